/* `roost get` and `roost delete`: documents by id. */
#ifndef ROOST_CLIDOC_H
#define ROOST_CLIDOC_H

extern const char clidoc_delete_usage[];

int clidoc_delete(int argc, char **argv);

extern const char clidoc_get_usage[];

int clidoc_get(int argc, char **argv);

#endif
