/* Readiness for systemd (Type=notify): the supervisor says READY=1 once
 * the instance serves and STOPPING=1 when it begins to stop, as a datagram
 * to the socket systemd names in NOTIFY_SOCKET. Without that variable
 * nothing is sent. The protocol is a few lines of sd_notify(3); roost does
 * not link libsystemd for it. */
#ifndef ROOST_SUPNOTIFY_H
#define ROOST_SUPNOTIFY_H

/* Sends state ("READY=1", "STOPPING=1", ...) to NOTIFY_SOCKET: 0 when
 * sent or when there is no such socket; ROOST_EINVAL for a socket name
 * that is not a path or an abstract name, or an errno's code. */
int supnotify_send(const char *state);

#endif
