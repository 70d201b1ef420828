/* rpc.c: JSON-RPC 2.0 line framing and message builders shared by p2pd and p2pctl. */
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
rpc_line_scan(const uint8_t *p, size_t len, size_t max, size_t *line_len)
{
	size_t n = max < SIZE_MAX && len > max + 1 ? max + 1 : len;
	const uint8_t *nl = n ? memchr(p, '\n', n) : NULL;

	if (nl != NULL) {
		*line_len = (size_t)(nl - p);
		return 1;
	}
	/* Decide before buffering more: a line that passed the cap is refused. */
	return len > max ? -1 : 0;
}

static void
seterr(char *err, size_t errlen, const char *msg)
{
	if (errlen > 0)
		snprintf(err, errlen, "%s", msg);
}

int
rpc_parse_request(const char *line, size_t len, json_t **req, json_t **id,
    const char **method, json_t **params, char *err, size_t errlen)
{
	json_error_t jerr;
	const char *key;
	json_t *o, *v;

	*req = NULL;
	*id = NULL;
	*method = NULL;
	*params = NULL;
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (o == NULL) {
		if (errlen > 0)
			snprintf(err, errlen, "invalid JSON at column %d: %s",
			    jerr.column, jerr.text);
		return RPC_ERR_PARSE;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		seterr(err, errlen, "a request must be a JSON object");
		return RPC_ERR_INVALID_REQUEST;
	}
	*req = o;
	v = json_object_get(o, "id");
	if (v != NULL && (json_is_string(v) || json_is_integer(v) || json_is_null(v)))
		*id = v;
	v = json_object_get(o, "jsonrpc");
	if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0) {
		seterr(err, errlen, "\"jsonrpc\" must be \"2.0\"");
		return RPC_ERR_INVALID_REQUEST;
	}
	v = json_object_get(o, "id");
	if (v != NULL && *id == NULL) {
		seterr(err, errlen, "\"id\" must be a string, an integer or null");
		return RPC_ERR_INVALID_REQUEST;
	}
	v = json_object_get(o, "method");
	if (!json_is_string(v)) {
		seterr(err, errlen, "\"method\" must be a string");
		return RPC_ERR_INVALID_REQUEST;
	}
	*method = json_string_value(v);
	v = json_object_get(o, "params");
	if (v != NULL && !json_is_null(v) && !json_is_object(v)) {
		seterr(err, errlen, "\"params\" must be an object (by-name parameters)");
		return RPC_ERR_INVALID_REQUEST;
	}
	*params = json_is_object(v) ? v : NULL;
	json_object_foreach(o, key, v) {
		if (strcmp(key, "jsonrpc") != 0 && strcmp(key, "id") != 0 &&
		    strcmp(key, "method") != 0 && strcmp(key, "params") != 0) {
			if (errlen > 0)
				snprintf(err, errlen, "unknown member \"%s\" in request", key);
			return RPC_ERR_INVALID_REQUEST;
		}
	}
	return 0;
}

json_t *
rpc_request(json_int_t id, const char *method, json_t *params)
{
	json_t *o = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", id,
	    "method", method);

	if (o != NULL && params != NULL)
		json_object_set(o, "params", params);
	return o;
}

json_t *
rpc_result(json_t *id, json_t *result)
{
	json_t *o = json_pack("{s:s}", "jsonrpc", "2.0");

	if (o == NULL)
		return NULL;
	json_object_set(o, "id", id ? id : json_null());
	json_object_set(o, "result", result ? result : json_null());
	return o;
}

json_t *
rpc_error(json_t *id, int code, const char *msg)
{
	json_t *o = json_pack("{s:s, s:{s:i, s:s}}", "jsonrpc", "2.0", "error",
	    "code", code, "message", msg ? msg : rpc_error_name(code));

	if (o != NULL)
		json_object_set(o, "id", id ? id : json_null());
	return o;
}

json_t *
rpc_notification(const char *method, json_t *params)
{
	json_t *o = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method);

	if (o != NULL && params != NULL)
		json_object_set(o, "params", params);
	return o;
}

char *
rpc_encode(json_t *msg, size_t *len)
{
	char *s = json_dumps(msg, JSON_COMPACT | JSON_ENSURE_ASCII);
	size_t n;
	char *line;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	if ((line = realloc(s, n + 2)) == NULL) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	if (len)
		*len = n + 1;
	return line;
}

const char *
rpc_error_name(int code)
{
	switch (code) {
	case RPC_ERR_PARSE: return "parse_error";
	case RPC_ERR_INVALID_REQUEST: return "invalid_request";
	case RPC_ERR_NO_METHOD: return "method_not_found";
	case RPC_ERR_PARAMS: return "invalid_params";
	case RPC_ERR_INTERNAL: return "internal_error";
	case RPC_ERR_NOT_FOUND: return "not_found";
	case RPC_ERR_AMBIGUOUS: return "ambiguous";
	case RPC_ERR_INVALID_TORRENT: return "invalid_torrent";
	case RPC_ERR_EXISTS: return "exists";
	case RPC_ERR_IO: return "io_error";
	case RPC_ERR_BUSY: return "busy";
	case RPC_ERR_LIMIT: return "limit";
	case RPC_ERR_SHUTDOWN: return "shutting_down";
	case RPC_ERR_DENIED: return "permission_denied";
	default: return "error";
	}
}
