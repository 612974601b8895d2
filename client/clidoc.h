/* `roost get`, `roost delete` and `roost scroll`: documents by id, and
 * every document a filter admits. */
#ifndef ROOST_CLIDOC_H
#define ROOST_CLIDOC_H

extern const char clidoc_delete_usage[];

int clidoc_delete(int argc, char **argv);

extern const char clidoc_get_usage[];

int clidoc_get(int argc, char **argv);

extern const char clidoc_scroll_usage[];

int clidoc_scroll(int argc, char **argv);

#endif
