/* `roost delete`: deletes documents by id. */
#ifndef ROOST_CLIDEL_H
#define ROOST_CLIDEL_H

extern const char clidel_usage[];

int clidel_main(int argc, char **argv);

#endif
