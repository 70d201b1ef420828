/* rpc.h: JSON-RPC 2.0 line framing, method names and error codes shared by p2pd and p2pctl. */
#ifndef P2P_RPC_H
#define P2P_RPC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Bumped on incompatible changes; p2pctl refuses a daemon with another major. */
#define RPC_API_VERSION 1
#define RPC_MAX_LINE (1u << 20)

/* JSON-RPC 2.0 codes. */
#define RPC_ERR_PARSE		-32700
#define RPC_ERR_INVALID_REQUEST	-32600
#define RPC_ERR_NO_METHOD	-32601
#define RPC_ERR_PARAMS		-32602
#define RPC_ERR_INTERNAL	-32603
/* Application codes, documented in docs/control-api.md. */
#define RPC_ERR_NOT_FOUND	-32001	/* no such torrent */
#define RPC_ERR_AMBIGUOUS	-32002	/* info-hash prefix matches several */
#define RPC_ERR_INVALID_TORRENT	-32003	/* bad .torrent, magnet or info dict */
#define RPC_ERR_EXISTS		-32004	/* torrent already present */
#define RPC_ERR_IO		-32005	/* file system error (path, permission, disk) */
#define RPC_ERR_BUSY		-32006	/* not possible in the current state */
#define RPC_ERR_LIMIT		-32007	/* a configured limit was reached */
#define RPC_ERR_SHUTDOWN	-32008	/* the daemon is shutting down */
#define RPC_ERR_DENIED		-32009	/* the client may not read that path itself */

/*
 * Finds the end of the first line in p[0..len). Returns 1 with *line_len set
 * (excluding the '\n'), 0 if more input is needed, -1 if no '\n' appears
 * within max bytes: the caller must refuse the line.
 */
int rpc_line_scan(const uint8_t *p, size_t len, size_t max, size_t *line_len);

/*
 * Checks one request line. Returns 0 with *req holding the parsed object
 * (caller decrefs) and *id, *method, *params borrowed from it (params is an
 * object, or NULL when absent); or a JSON-RPC error code with a message in
 * err, and *id set to the request's id when it could be read (else NULL).
 */
int rpc_parse_request(const char *line, size_t len, json_t **req, json_t **id,
    const char **method, json_t **params, char *err, size_t errlen);

/* Builders; each returns a new reference. */
json_t *rpc_request(json_int_t id, const char *method, json_t *params);
json_t *rpc_result(json_t *id, json_t *result);
json_t *rpc_error(json_t *id, int code, const char *msg);
json_t *rpc_notification(const char *method, json_t *params);

/* Compact encoding plus '\n'; malloc'd, NULL on failure. */
char *rpc_encode(json_t *msg, size_t *len);
/* Short name for an error code ("not_found"), for logs and p2pctl. */
const char *rpc_error_name(int code);

#endif
