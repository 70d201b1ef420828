/* ctl.h: the control socket server: clients, JSON-RPC line framing, replies and events. */
#ifndef P2P_CTL_H
#define P2P_CTL_H

#include <ev.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ctl;
struct ctl_client;

/* Output queued for one client past this closes it: a slow reader can't grow us. */
#define CTL_MAX_OUTPUT (4u << 20)

/* Event types a client can subscribe to; names as in docs/control-api.md. */
enum ctl_event {
	CTL_EV_TORRENT_ADDED,
	CTL_EV_TORRENT_REMOVED,
	CTL_EV_TORRENT_STATE,
	CTL_EV_HASH_PROGRESS,
	CTL_EV_SHARE_DONE,
	CTL_EV_SHARE_FAILED,
	CTL_EV_PIECE_VERIFIED,
	CTL_EV_PIECE_FAILED,
	CTL_EV_TORRENT_COMPLETED,
	CTL_EV_PEER_BANNED,
	CTL_EV_SEARCH_RESULT,
	CTL_EV_SEARCH_DONE,
	CTL_EV_COUNT
};

/* Called for each well-formed request; the handler must answer with ctl_reply
 * (now or later, through ctl_client_find) unless id is NULL (a notification). */
typedef void (*ctl_request_fn)(void *ctx, struct ctl_client *c, json_t *id,
    const char *method, json_t *params);

/*
 * Opens the listening socket at path with mode 0660. A socket file nobody
 * answers on is replaced; one a live daemon answers on is refused. Returns
 * the fd, or -1 with a message in err.
 */
int ctl_listen_path(const char *path, char *err, size_t errlen);

struct ctl *ctl_new(struct ev_loop *loop, int listen_fd, int max_clients,
    ctl_request_fn fn, void *ctx);
/* Closes every client and the listening socket (unlinks path if not NULL). */
void ctl_free(struct ctl *ctl, const char *unlink_path);
/* Stops accepting new clients (shutdown in progress). */
void ctl_stop_accepting(struct ctl *ctl);
int ctl_client_count(const struct ctl *ctl);

/* Queues msg (steals the reference) for the client. */
void ctl_reply(struct ctl_client *c, json_t *msg);
void ctl_reply_result(struct ctl_client *c, json_t *id, json_t *result);
void ctl_reply_error(struct ctl_client *c, json_t *id, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * For answers that async work gives later: defer counts one owed answer, so
 * a client that half-closes its socket still gets it; reply_deferred sends it
 * (to nobody, if the client left meanwhile) and settles the count.
 */
void ctl_client_defer(struct ctl_client *c);
void ctl_reply_deferred(struct ctl *ctl, uint64_t client, json_t *msg);
/* Stable number for a client, to answer later after async work. */
uint64_t ctl_client_id(const struct ctl_client *c);
/* The client's uid and gid from SO_PEERCRED at connect; -1 if unknown. */
int ctl_client_cred(const struct ctl_client *c, uid_t *uid, gid_t *gid);
struct ctl_client *ctl_client_find(struct ctl *ctl, uint64_t id);
void ctl_client_subscribe(struct ctl_client *c, uint32_t mask);

/* -1 if unknown. */
int ctl_event_parse(const char *name);
const char *ctl_event_name(enum ctl_event ev);
/* Sends {"type": name, "time": now, ...params} to every subscriber. */
void ctl_event(struct ctl *ctl, enum ctl_event ev, json_t *params);

#endif
