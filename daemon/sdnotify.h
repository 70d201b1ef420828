/* sdnotify.h: the systemd notify datagram protocol and socket activation, without libsystemd. */
#ifndef P2P_SDNOTIFY_H
#define P2P_SDNOTIFY_H

/* Sends "READY=1", "STOPPING=1", "STATUS=..." etc. to $NOTIFY_SOCKET if set. 0 or -1. */
int sdnotify_send(const char *msg);
/*
 * How often to send "WATCHDOG=1", in seconds: half of $WATCHDOG_USEC (systemd's
 * advice), or 0 when no watchdog is asked for or $WATCHDOG_PID names another
 * process. Sent from the event loop, so a stalled loop stops the pings and
 * systemd restarts the daemon.
 */
double sdnotify_watchdog_interval(void);
/*
 * The first socket passed by systemd (LISTEN_PID is us, LISTEN_FDS >= 1),
 * i.e. fd 3, or -1 if none. Clears the variables so children don't inherit them.
 */
int sdnotify_listen_fd(void);

#endif
