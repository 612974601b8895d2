# The roost command-line tool (client/cli.c and its modules) and the demo's
# agent program. `make demo` runs scripts/demo.py against them.

.DEFAULT_GOAL := all

CLI_OBJ := $(patsubst %.c,$(BUILD)/%.o,client/cli.c client/clibackup.c client/clicoll.c client/clicopy.c \
	client/clidata.c client/clidoc.c client/clireplay.c \
	client/clistat.c client/cliutil.c client/cliwhere.c sup/sup.c sup/supctl.c \
	sup/supmetrics.c sup/supnotify.c)
# The backup and the replay read the manifest, segments and log and write
# new ones with the store's code.
$(BUILD)/client/clibackup.o $(BUILD)/client/clicopy.o $(BUILD)/client/clireplay.o: \
	INC = $(INC_PROTO) -Ishm -Istore -Isup -Iclient
CLI_BIN := $(BUILD)/bin/roost
DEMO_AGENT := $(BUILD)/bin/roost-demo-agent
BINS += $(CLI_BIN) $(DEMO_AGENT)

# Linked against libroost the way users are, plus the internal libraries
# the supervisor and the JSON-lines reader use.
$(CLI_BIN): $(CLI_OBJ) $(LIBROOST) $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $(CLI_OBJ) -o $@ -L$(BUILD)/lib -Wl,-rpath,'$$ORIGIN/../lib' -lroost \
		$(LIBS_ALL) $(SYS_LD)

$(DEMO_AGENT): $(BUILD)/demo/agent.o $(LIBROOST)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $< -o $@ -L$(BUILD)/lib -Wl,-rpath,'$$ORIGIN/../lib' -lroost -lm
