/* fuzz-rpc.c: libFuzzer harness for JSON-RPC line framing, request checks and replies. */
#include "rpc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A reply encodes as exactly one line that the framing finds whole. */
static void
check_reply(json_t *msg)
{
	size_t len, line_len;
	char *s;

	if (msg == NULL)
		abort();
	if ((s = rpc_encode(msg, &len)) == NULL)
		abort();
	if (rpc_line_scan((const uint8_t *)s, len, len, &line_len) != 1 ||
	    line_len != len - 1)
		abort();
	free(s);
	json_decref(msg);
}

/* What the daemon does with one line: check it, then answer it. */
static void
one_line(const char *line, size_t len)
{
	json_t *req = NULL, *id = NULL, *params = NULL;
	const char *method = NULL;
	char err[256];
	int code;

	err[0] = '\0';
	code = rpc_parse_request(line, len, &req, &id, &method, &params, err,
	    sizeof(err));
	if (code == 0) {
		if (req == NULL || method == NULL)
			abort();
		if (params != NULL && !json_is_object(params))
			abort();
		check_reply(rpc_result(id, params));
		check_reply(rpc_notification(method, params));
	} else {
		if (strlen(err) == 0)
			abort();
		check_reply(rpc_error(id, code, err));
	}
	if (req != NULL)
		json_decref(req);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0, n;
	/* A small cap as well, so the "too long" path is reached often. */
	size_t max = size > 0 && (data[0] & 1) ? 64 : RPC_MAX_LINE;
	int r;

	while (pos < size) {
		r = rpc_line_scan(data + pos, size - pos, max, &n);
		if (r == -1 || r == 0) {
			if (r == 0 && size - pos > max)
				abort();	/* should have been refused */
			break;
		}
		if (n > max)
			abort();
		one_line((const char *)data + pos, n);
		pos += n + 1;
	}
	return 0;
}
