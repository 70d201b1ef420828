/* ctl.c: control socket: accepts clients, frames JSON-RPC lines, bounds their buffers. */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "rpc.h"

static const char *const event_names[CTL_EV_COUNT] = {
	[CTL_EV_TORRENT_ADDED] = "torrent.added",
	[CTL_EV_TORRENT_REMOVED] = "torrent.removed",
	[CTL_EV_TORRENT_STATE] = "torrent.state",
	[CTL_EV_HASH_PROGRESS] = "hash.progress",
	[CTL_EV_SHARE_DONE] = "share.done",
	[CTL_EV_SHARE_FAILED] = "share.failed",
	[CTL_EV_PIECE_VERIFIED] = "piece.verified",
	[CTL_EV_PIECE_FAILED] = "piece.failed",
	[CTL_EV_TORRENT_COMPLETED] = "torrent.completed",
	[CTL_EV_PEER_BANNED] = "peer.banned",
	[CTL_EV_SEARCH_RESULT] = "search.result",
	[CTL_EV_SEARCH_DONE] = "search.done",
};

struct ctl_client {
	struct ctl_client *next;
	struct ctl *ctl;
	uint64_t id;
	int fd;
	ev_io io;
	struct buf in;
	struct buf out;
	uint32_t events;	/* subscription mask */
	int closing;		/* flush what is queued, then close */
	unsigned deferred;	/* answers still owed by async work */
	int dead;		/* close at the end of the callback */
	int in_cb;
	int have_cred;		/* uid/gid known from SO_PEERCRED */
	uid_t uid;
	gid_t gid;
};

struct ctl {
	struct ev_loop *loop;
	int fd;
	ev_io accept_io;
	ev_timer accept_pause;	/* out of fds: accepts resume when it fires */
	int accept_stopped;	/* ctl_stop_accepting ran: never resume */
	struct ctl_client *clients;
	int nclients;
	int max_clients;
	uint64_t next_id;
	ctl_request_fn fn;
	void *ctx;
};

static void client_update(struct ctl_client *c);
static void client_free(struct ctl_client *c);

static int
sun_set(struct sockaddr_un *sun, const char *path, char *err, size_t errlen)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		snprintf(err, errlen, "socket path too long (max %zu bytes): %s",
		    sizeof(sun->sun_path) - 1, path);
		return -1;
	}
	memcpy(sun->sun_path, path, strlen(path));
	return 0;
}

/* 1 if a daemon answers on path, 0 if the file is stale or absent. */
static int
socket_is_live(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int live;

	if (fd == -1)
		return 0;
	live = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	return live;
}

int
ctl_listen_path(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd;

	if (sun_set(&sun, path, err, errlen) == -1)
		return -1;
	if (lstat(path, &st) == 0) {
		if (S_ISLNK(st.st_mode)) {
			snprintf(err, errlen, "refusing control socket %s: it is a symbolic link", path);
			return -1;
		}
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "refusing control socket %s: a file that is not a socket is in the way", path);
			return -1;
		}
		if (socket_is_live(&sun)) {
			snprintf(err, errlen, "p2pd is already running: it answers on %s", path);
			return -1;
		}
		log_notice("ctl: replacing stale socket %s", path);
		unlink(path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* Create it 0660 atomically: no window where others could connect. */
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		snprintf(err, errlen, "cannot bind control socket %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (listen(fd, 128) == -1) {
		snprintf(err, errlen, "listen on %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

static void
log_peer_cred(struct ctl_client *c)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		/* Kept for the access checks of path-taking methods (access.c). */
		c->have_cred = 1;
		c->uid = cred.uid;
		c->gid = cred.gid;
	}
	if (c->have_cred)
		log_info("ctl: client %llu connected pid=%d uid=%d gid=%d",
		    (unsigned long long)c->id, (int)cred.pid, (int)cred.uid, (int)cred.gid);
}

static void
client_write(struct ctl_client *c)
{
	while (c->out.len > 0) {
		ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				c->dead = 1;
			return;
		}
		buf_consume(&c->out, (size_t)n);
	}
	if (c->closing && c->deferred == 0)
		c->dead = 1;
}

static void
client_dispatch(struct ctl_client *c, const char *line, size_t len)
{
	json_t *req, *id, *params;
	const char *method;
	char err[256];
	int rc;

	rc = rpc_parse_request(line, len, &req, &id, &method, &params, err, sizeof(err));
	if (rc != 0) {
		log_debug("ctl: client %llu bad request: %s", (unsigned long long)c->id, err);
		ctl_reply(c, rpc_error(id, rc, err));
	} else {
		c->ctl->fn(c->ctl->ctx, c, id, method, params);
	}
	json_decref(req);
}

static void
client_read(struct ctl_client *c)
{
	uint8_t tmp[65536];
	size_t off;

	for (;;) {
		ssize_t n = recv(c->fd, tmp, sizeof(tmp), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				c->dead = 1;
			break;
		}
		if (n == 0) {
			/* The peer is done sending; answer what it asked, then close. */
			c->closing = 1;
			break;
		}
		if (buf_append(&c->in, tmp, (size_t)n) == -1) {
			c->dead = 1;
			return;
		}
		if (c->in.len > RPC_MAX_LINE)
			break;
		if ((size_t)n < sizeof(tmp))
			break;
	}
	off = 0;
	while (!c->dead && off < c->in.len) {
		size_t linelen;
		int r = rpc_line_scan(c->in.data + off, c->in.len - off, RPC_MAX_LINE, &linelen);
		if (r == 0)
			break;
		if (r < 0) {
			log_warnx("ctl: client %llu sent a line over %u bytes; closing",
			    (unsigned long long)c->id, RPC_MAX_LINE);
			ctl_reply(c, rpc_error(NULL, RPC_ERR_INVALID_REQUEST,
			    "request line longer than 1 MiB; closing the connection"));
			c->closing = 1;
			off = c->in.len;
			break;
		}
		if (linelen > 0 && !(linelen == 1 && c->in.data[off] == '\r'))
			client_dispatch(c, (const char *)c->in.data + off, linelen);
		off += linelen + 1;
	}
	buf_consume(&c->in, off);
	if (c->closing && c->out.len == 0 && c->deferred == 0)
		c->dead = 1;
}

static void
client_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl_client *c = w->data;

	(void)loop;
	c->in_cb = 1;
	if (revents & EV_READ)
		client_read(c);
	if (!c->dead && (revents & EV_WRITE || c->out.len > 0))
		client_write(c);
	c->in_cb = 0;
	/* Freed only here, at the end of its own callback. */
	if (c->dead)
		client_free(c);
	else
		client_update(c);
}

static void
client_update(struct ctl_client *c)
{
	int want = 0;

	if (!c->closing)
		want |= EV_READ;
	if (c->out.len > 0)
		want |= EV_WRITE;
	if (want == 0) {
		ev_io_stop(c->ctl->loop, &c->io);
		return;
	}
	if ((c->io.events & (EV_READ | EV_WRITE)) != want || !ev_is_active(&c->io)) {
		ev_io_stop(c->ctl->loop, &c->io);
		ev_io_set(&c->io, c->fd, want);
		ev_io_start(c->ctl->loop, &c->io);
	}
}

static void
client_free(struct ctl_client *c)
{
	struct ctl *ctl = c->ctl;
	struct ctl_client **pp;

	for (pp = &ctl->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	ctl->nclients--;
	ev_io_stop(ctl->loop, &c->io);
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	log_debug("ctl: client %llu closed", (unsigned long long)c->id);
	free(c);
}

static void
accept_resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctl *ctl = w->data;

	(void)revents;
	if (!ctl->accept_stopped)
		ev_io_start(loop, &ctl->accept_io);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl *ctl = w->data;

	(void)loop;
	(void)revents;
	for (int i = 0; i < 64; i++) {
		struct ctl_client *c;
		int fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				/*
				 * The pending connection stays queued and the socket stays
				 * readable: without a pause the loop would spin on it.
				 */
				log_warnx("ctl: out of file descriptors (max_open_files); "
				    "not accepting control clients for 1 s");
				ev_io_stop(loop, &ctl->accept_io);
				ev_timer_set(&ctl->accept_pause, 1., 0.);
				ev_timer_start(loop, &ctl->accept_pause);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("ctl: accept");
			return;
		}
		if (ctl->nclients >= ctl->max_clients) {
			static const char msg[] = "{\"jsonrpc\":\"2.0\",\"id\":null,"
			    "\"error\":{\"code\":-32007,\"message\":\"too many control "
			    "clients (control_max_clients); try again later\"}}\n";
			log_warnx("ctl: refusing client: %d clients connected", ctl->nclients);
			(void)!send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->ctl = ctl;
		c->fd = fd;
		c->id = ++ctl->next_id;
		buf_init(&c->in, RPC_MAX_LINE + 65536);
		buf_init(&c->out, CTL_MAX_OUTPUT);
		ev_io_init(&c->io, client_cb, fd, EV_READ);
		c->io.data = c;
		ev_io_start(ctl->loop, &c->io);
		c->next = ctl->clients;
		ctl->clients = c;
		ctl->nclients++;
		log_peer_cred(c);
	}
}

struct ctl *
ctl_new(struct ev_loop *loop, int listen_fd, int max_clients, ctl_request_fn fn, void *ctx)
{
	struct ctl *ctl = calloc(1, sizeof(*ctl));
	int fl;

	if (ctl == NULL)
		return NULL;
	/* A socket handed over by systemd may be blocking. */
	if ((fl = fcntl(listen_fd, F_GETFL)) != -1)
		fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK);
	fcntl(listen_fd, F_SETFD, FD_CLOEXEC);
	ctl->loop = loop;
	ctl->fd = listen_fd;
	ctl->max_clients = max_clients > 0 ? max_clients : 256;
	ctl->fn = fn;
	ctl->ctx = ctx;
	ev_io_init(&ctl->accept_io, accept_cb, listen_fd, EV_READ);
	ctl->accept_io.data = ctl;
	ev_io_start(loop, &ctl->accept_io);
	ev_timer_init(&ctl->accept_pause, accept_resume_cb, 1., 0.);
	ctl->accept_pause.data = ctl;
	return ctl;
}

void
ctl_stop_accepting(struct ctl *ctl)
{
	ctl->accept_stopped = 1;
	ev_timer_stop(ctl->loop, &ctl->accept_pause);
	ev_io_stop(ctl->loop, &ctl->accept_io);
}

void
ctl_free(struct ctl *ctl, const char *unlink_path)
{
	if (ctl == NULL)
		return;
	/*
	 * Best effort, without blocking: what is queued (the shutdown answer) fits
	 * in the socket buffer of a client that reads; one that doesn't must not
	 * hold up the stop, which systemd expects within seconds.
	 */
	for (struct ctl_client *c = ctl->clients; c; c = c->next)
		client_write(c);
	while (ctl->clients)
		client_free(ctl->clients);
	ev_timer_stop(ctl->loop, &ctl->accept_pause);
	ev_io_stop(ctl->loop, &ctl->accept_io);
	close(ctl->fd);
	if (unlink_path)
		unlink(unlink_path);
	free(ctl);
}

int
ctl_client_count(const struct ctl *ctl)
{
	return ctl->nclients;
}

void
ctl_reply(struct ctl_client *c, json_t *msg)
{
	char *line;
	size_t len;

	if (msg == NULL)
		return;
	line = rpc_encode(msg, &len);
	json_decref(msg);
	if (c->dead)
		goto out;
	if (line == NULL || buf_append(&c->out, line, len) == -1) {
		log_warnx("ctl: client %llu is not reading its answers "
		    "(%zu bytes queued); closing it", (unsigned long long)c->id, c->out.len);
		c->dead = 1;
	}
	/* Outside its own callback nothing else will notice the new output. */
	if (!c->in_cb) {
		if (!c->dead)
			client_write(c);
		if (c->dead) {
			ev_io_stop(c->ctl->loop, &c->io);
			shutdown(c->fd, SHUT_RDWR);
			/* Let the watcher fire so the client is freed in its callback. */
			ev_io_set(&c->io, c->fd, EV_READ);
			ev_io_start(c->ctl->loop, &c->io);
			ev_feed_event(c->ctl->loop, &c->io, EV_READ);
		} else {
			client_update(c);
		}
	}
out:
	free(line);
}

void
ctl_reply_result(struct ctl_client *c, json_t *id, json_t *result)
{
	if (id == NULL) {
		json_decref(result);
		return;
	}
	ctl_reply(c, rpc_result(id, result));
	json_decref(result);
}

void
ctl_reply_error(struct ctl_client *c, json_t *id, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (id == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctl_reply(c, rpc_error(id, code, msg));
}

void
ctl_client_defer(struct ctl_client *c)
{
	c->deferred++;
}

void
ctl_reply_deferred(struct ctl *ctl, uint64_t client, json_t *msg)
{
	struct ctl_client *c = ctl_client_find(ctl, client);

	if (c == NULL) {
		json_decref(msg);
		return;
	}
	if (c->deferred > 0)
		c->deferred--;
	ctl_reply(c, msg);
}

uint64_t
ctl_client_id(const struct ctl_client *c)
{
	return c->id;
}

int
ctl_client_cred(const struct ctl_client *c, uid_t *uid, gid_t *gid)
{
	if (!c->have_cred)
		return -1;
	*uid = c->uid;
	*gid = c->gid;
	return 0;
}

struct ctl_client *
ctl_client_find(struct ctl *ctl, uint64_t id)
{
	for (struct ctl_client *c = ctl->clients; c; c = c->next)
		if (c->id == id && !c->dead)
			return c;
	return NULL;
}

void
ctl_client_subscribe(struct ctl_client *c, uint32_t mask)
{
	c->events |= mask;
}

int
ctl_event_parse(const char *name)
{
	for (int i = 0; i < CTL_EV_COUNT; i++)
		if (strcmp(name, event_names[i]) == 0)
			return i;
	return -1;
}

const char *
ctl_event_name(enum ctl_event ev)
{
	return ev < CTL_EV_COUNT ? event_names[ev] : "unknown";
}

void
ctl_event(struct ctl *ctl, enum ctl_event ev, json_t *params)
{
	json_t *p = json_object();

	if (ctl == NULL || p == NULL) {
		json_decref(p);
		json_decref(params);
		return;
	}
	json_object_set_new(p, "type", json_string(event_names[ev]));
	json_object_set_new(p, "time", json_integer((json_int_t)time(NULL)));
	if (params)
		json_object_update(p, params);
	json_decref(params);
	for (struct ctl_client *c = ctl->clients; c; c = c->next)
		if ((c->events & (1u << ev)) && !c->dead && !c->closing)
			ctl_reply(c, rpc_notification("event", p));
	json_decref(p);
}
