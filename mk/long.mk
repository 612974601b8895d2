# The crash matrix in its long mode (tests/system/test_crash.py): 50 rounds
# restarted by the test and 25 under `roost up` instead of CI's 10 and 5,
# and for documents with ids of their own each record and seal kill point
# three times plus 25 random kills instead of once plus 5, printing the
# figures that docs/reliability.md reports.
.PHONY: test-long
test-long: all
	ROOST_CRASH_LONG=1 $(PYTHON) tests/run.py --system tests/system/test_crash.py -- -s
