/* sdnotify.h: the systemd notify datagram protocol and socket activation, without libsystemd. */
#ifndef P2P_SDNOTIFY_H
#define P2P_SDNOTIFY_H

/* Sends "READY=1", "STOPPING=1", "STATUS=..." etc. to $NOTIFY_SOCKET if set. 0 or -1. */
int sdnotify_send(const char *msg);
/*
 * The first socket passed by systemd (LISTEN_PID is us, LISTEN_FDS >= 1),
 * i.e. fd 3, or -1 if none. Clears the variables so children don't inherit them.
 */
int sdnotify_listen_fd(void);

#endif
