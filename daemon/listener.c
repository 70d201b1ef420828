/* listener.c: accepts peer connections and hands them to peer.c after the limits allow. */
#include "listener.h"

#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "netaddr.h"
#include "peer.h"
#include "session.h"

struct lsock {
	struct listener *l;
	int fd;
	struct netaddr addr;
	ev_io io;
	ev_timer pause;		/* out of fds: accepting resumes when it fires */
};

struct listener {
	struct session *s;
	struct lsock *socks;
	size_t n;
};

static void
resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lsock *ls = w->data;

	(void)revents;
	ev_io_start(loop, &ls->io);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct lsock *ls = w->data;

	(void)loop;
	(void)revents;
	for (int i = 0; i < 32; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct netaddr a;
		char err[160], as[NETADDR_STRLEN];
		int fd = accept4(ls->fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				/* The socket stays readable: pause, or the loop spins on it. */
				log_warnx("listener: out of file descriptors (max_open_files); "
				    "not accepting peers for 1 s");
				ev_io_stop(loop, &ls->io);
				ev_timer_set(&ls->pause, 1., 0.);
				ev_timer_start(loop, &ls->pause);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("listener: accept");
			return;
		}
		if (netaddr_from_sockaddr(&a, (struct sockaddr *)&ss, len) == -1) {
			close(fd);
			continue;
		}
		if (session_peer_allowed(ls->l->s, &a, err, sizeof(err)) != 0) {
			log_debug("listener: refused %s: %s", netaddr_format(&a, as, sizeof(as)),
			    err);
			close(fd);
			continue;
		}
		peer_accept(ls->l->s, fd, &a);
	}
}

static int
bind_one(struct lsock *ls, const char *spec, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char perr[128];
	int one = 1, fam;

	if (netaddr_parse(spec, &ls->addr, perr, sizeof(perr)) == -1) {
		snprintf(err, errlen, "listen %s: %s", spec, perr);
		return -1;
	}
	fam = netaddr_family(&ls->addr);
	if ((ls->fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "listen %s: %s", spec, strerror(errno));
		return errno == EAFNOSUPPORT ? 1 : -1;
	}
	setsockopt(ls->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* So "0.0.0.0:6881" and "[::]:6881" can both be bound. */
	if (fam == AF_INET6)
		setsockopt(ls->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(ls->fd, (struct sockaddr *)&ls->addr.ss, ls->addr.len) == -1 ||
	    listen(ls->fd, 128) == -1) {
		int e = errno;
		snprintf(err, errlen, "cannot listen on %s: %s%s", spec, strerror(e),
		    e == EADDRINUSE ? " (choose another with --listen ADDR:PORT)" : "");
		close(ls->fd);
		return fam == AF_INET6 && e == EADDRNOTAVAIL ? 1 : -1;
	}
	if (getsockname(ls->fd, (struct sockaddr *)&ss, &len) == 0)
		netaddr_from_sockaddr(&ls->addr, (struct sockaddr *)&ss, len);
	return 0;
}

struct listener *
listener_new(struct session *s, char *const *addrs, size_t n, char *err, size_t errlen)
{
	struct listener *l = calloc(1, sizeof(*l));

	if (l == NULL || (n && (l->socks = calloc(n, sizeof(*l->socks))) == NULL)) {
		free(l);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->s = s;
	for (size_t i = 0; i < n; i++) {
		struct lsock *ls = &l->socks[l->n];
		char as[NETADDR_STRLEN];
		int r = bind_one(ls, addrs[i], err, errlen);

		if (r == 1) {
			log_warnx("listener: skipping %s", err);
			continue;
		}
		if (r == -1) {
			listener_free(l);
			return NULL;
		}
		ls->l = l;
		ev_io_init(&ls->io, accept_cb, ls->fd, EV_READ);
		ls->io.data = ls;
		ev_io_start(session_loop(s), &ls->io);
		ev_timer_init(&ls->pause, resume_cb, 1., 0.);
		ls->pause.data = ls;
		log_info("listener: peers on %s", netaddr_format(&ls->addr, as, sizeof(as)));
		l->n++;
	}
	return l;
}

void
listener_free(struct listener *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		ev_io_stop(session_loop(l->s), &l->socks[i].io);
		ev_timer_stop(session_loop(l->s), &l->socks[i].pause);
		close(l->socks[i].fd);
	}
	free(l->socks);
	free(l);
}

size_t
listener_count(const struct listener *l)
{
	return l ? l->n : 0;
}

const struct netaddr *
listener_addr(const struct listener *l, size_t i)
{
	return i < l->n ? &l->socks[i].addr : NULL;
}
