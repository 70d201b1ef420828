/* sdnotify.c: sd_notify over $NOTIFY_SOCKET and LISTEN_FDS socket activation. */
#include "sdnotify.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

int
sdnotify_send(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	size_t n;
	int fd, rc;

	if (path == NULL || *path == '\0')
		return 0;
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sun.sun_path)) {
		log_warnx("sdnotify: ignoring NOTIFY_SOCKET=%s: not a usable socket path", path);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, n);
	/* '@' names an abstract socket: a leading NUL and no terminator. */
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("sdnotify: socket");
		return -1;
	}
	rc = (int)sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sun, len);
	if (rc == -1)
		log_warn("sdnotify: send to %s", path);
	close(fd);
	return rc == -1 ? -1 : 0;
}

double
sdnotify_watchdog_interval(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	unsigned long long us;
	char *end;

	if (usec == NULL || *usec == '\0')
		return 0;
	/* The watchdog is for the main process only: not for a child that inherited it. */
	if (pid != NULL && *pid != '\0' && strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	errno = 0;
	us = strtoull(usec, &end, 10);
	if (errno != 0 || *end != '\0' || us == 0) {
		log_warnx("sdnotify: ignoring WATCHDOG_USEC=%s: not a positive number", usec);
		return 0;
	}
	return (double)us / 2e6;
}

int
sdnotify_listen_fd(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	struct stat st;
	char *end;
	long p, n;

	if (pid == NULL || fds == NULL)
		return -1;
	p = strtol(pid, &end, 10);
	if (*end != '\0' || p != (long)getpid())
		return -1;
	n = strtol(fds, &end, 10);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (*end != '\0' || n < 1)
		return -1;
	if (n > 1)
		log_warnx("sdnotify: %ld sockets passed; using the first (fd 3)", n);
	if (fstat(3, &st) == -1 || !S_ISSOCK(st.st_mode)) {
		log_warnx("sdnotify: LISTEN_FDS set but fd 3 is not a socket; ignoring it");
		return -1;
	}
	return 3;
}
