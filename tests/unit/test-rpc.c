/* test-rpc.c: JSON-RPC line framing, request checks and builders (common/rpc.c). */
#include "testmain.h"
#include "rpc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The id as JSON text ("1", "\"a\"", "null"), or NULL when absent; malloc'd. */
static char *
id_text(json_t *id)
{
	return id ? json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
}

static const struct {
	const char *in;
	size_t max;
	int ret;
	size_t line_len;
} scans[] = {
	{ "abc\n", 10, 1, 3 },
	{ "\n", 10, 1, 0 },
	{ "abc\ndef\n", 10, 1, 3 },	/* the first line only */
	{ "ab\r\n", 10, 1, 3 },		/* \r is the JSON parser's business */
	{ "", 10, 0, 0 },
	{ "abc", 10, 0, 0 },
	{ "abc", 3, 0, 0 },		/* at the cap: a '\n' may still come */
	{ "abc\n", 3, 1, 3 },		/* a line of exactly max bytes is fine */
	{ "abcd", 3, -1, 0 },		/* past the cap without '\n' */
	{ "abcd\n", 3, -1, 0 },
	{ "abcdefgh", 3, -1, 0 },
	{ "\n", 0, 1, 0 },
	{ "a", 0, -1, 0 },
};

START_TEST(test_line_scan)
{
	size_t n = 12345;
	int r;

	r = rpc_line_scan((const uint8_t *)scans[_i].in, strlen(scans[_i].in),
	    scans[_i].max, &n);
	ck_assert_msg(r == scans[_i].ret, "'%s' max %zu: %d", scans[_i].in,
	    scans[_i].max, r);
	if (r == 1)
		ck_assert_uint_eq(n, scans[_i].line_len);
}
END_TEST

START_TEST(test_line_scan_max_line)
{
	size_t n = RPC_MAX_LINE + 2, len;
	uint8_t *p = malloc(n);

	ck_assert_ptr_nonnull(p);
	memset(p, 'x', n);
	/* docs/control-api.md: at most 1 MiB, the newline excluded. */
	p[RPC_MAX_LINE] = '\n';
	ck_assert_int_eq(rpc_line_scan(p, RPC_MAX_LINE + 1, RPC_MAX_LINE,
	    &len), 1);
	ck_assert_uint_eq(len, RPC_MAX_LINE);
	/* One byte more is refused as soon as it is seen, not buffered on. */
	p[RPC_MAX_LINE] = 'x';
	ck_assert_int_eq(rpc_line_scan(p, RPC_MAX_LINE, RPC_MAX_LINE, &len), 0);
	ck_assert_int_eq(rpc_line_scan(p, RPC_MAX_LINE + 1, RPC_MAX_LINE,
	    &len), -1);
	p[RPC_MAX_LINE + 1] = '\n';
	ck_assert_int_eq(rpc_line_scan(p, RPC_MAX_LINE + 2, RPC_MAX_LINE,
	    &len), -1);
	free(p);
}
END_TEST

START_TEST(test_line_scan_edges)
{
	size_t n;

	/* An empty buffer may not have storage yet. */
	ck_assert_int_eq(rpc_line_scan(NULL, 0, 10, &n), 0);
	/* No cap at all must not wrap around. */
	ck_assert_int_eq(rpc_line_scan((const uint8_t *)"ab\n", 3, SIZE_MAX,
	    &n), 1);
	ck_assert_uint_eq(n, 2);
	/* Only len bytes are looked at. */
	ck_assert_int_eq(rpc_line_scan((const uint8_t *)"ab\n", 2, 10, &n), 0);
}
END_TEST

/* Valid requests: method, id as JSON text (NULL: notification), params? */
static const struct {
	const char *in;
	const char *method;
	const char *id;
	int has_params;
} good[] = {
	{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"torrent.list\","
	    "\"params\":{}}", "torrent.list", "1", 1 },
	{ "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"x.y\"}", "x.y",
	    "\"abc\"", 0 },
	{ "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"x\"}", "x", "null", 0 },
	{ "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"a\":1}}",
	    "event", NULL, 1 },
	{ "{\"params\":{\"k\":\"v\"},\"method\":\"m\",\"id\":-5,"
	    "\"jsonrpc\":\"2.0\"}", "m", "-5", 1 },
	{ "  {\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"m\"}  \r", "m", "0", 0 },
	{ "{\"jsonrpc\":\"2.0\",\"id\":9007199254740993,\"method\":\"m\"}", "m",
	    "9007199254740993", 0 },
	{ "{\"jsonrpc\":\"2.0\",\"id\":\"\",\"method\":\"\"}", "", "\"\"", 0 },
	{ "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"torrent.get\","
	    "\"params\":{\"id\":\"abcdef\",\"x\":[1,{\"y\":null}]}}",
	    "torrent.get", "2", 1 },
};

START_TEST(test_parse_good)
{
	json_t *req, *id, *params;
	const char *method;
	char err[256] = "";
	char *idt;
	int r;

	r = rpc_parse_request(good[_i].in, strlen(good[_i].in), &req, &id,
	    &method, &params, err, sizeof(err));
	ck_assert_msg(r == 0, "%s: %d %s", good[_i].in, r, err);
	ck_assert_ptr_nonnull(req);
	ck_assert_str_eq(method, good[_i].method);
	idt = id_text(id);
	if (good[_i].id == NULL)
		ck_assert_ptr_null(id);
	else
		ck_assert_str_eq(idt, good[_i].id);
	free(idt);
	if (good[_i].has_params)
		ck_assert(json_is_object(params));
	else
		ck_assert_ptr_null(params);
	json_decref(req);
}
END_TEST

/* Refused requests: the code, and the id the error must echo (JSON text). */
static const struct {
	const char *in;
	int code;
	const char *id;
} bad[] = {
	{ "", RPC_ERR_PARSE, NULL },
	{ "nonsense", RPC_ERR_PARSE, NULL },
	{ "{\"jsonrpc\":\"2.0\",\"method\":", RPC_ERR_PARSE, NULL },
	{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\",}", RPC_ERR_PARSE,
	    NULL },
	{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\"} {}", RPC_ERR_PARSE,
	    NULL },
	{ "{'jsonrpc':'2.0'}", RPC_ERR_PARSE, NULL },
	/* Valid JSON that is not a request object. */
	{ "[]", RPC_ERR_INVALID_REQUEST, NULL },
	{ "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\"}]",
	    RPC_ERR_INVALID_REQUEST, NULL },
	{ "42", RPC_ERR_INVALID_REQUEST, NULL },
	{ "\"torrent.list\"", RPC_ERR_INVALID_REQUEST, NULL },
	{ "null", RPC_ERR_INVALID_REQUEST, NULL },
	{ "{}", RPC_ERR_INVALID_REQUEST, NULL },
	/* jsonrpc missing or not exactly "2.0"; the id is still echoed. */
	{ "{\"id\":1,\"method\":\"a\"}", RPC_ERR_INVALID_REQUEST, "1" },
	{ "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"a\"}",
	    RPC_ERR_INVALID_REQUEST, "1" },
	{ "{\"jsonrpc\":2.0,\"id\":\"x\",\"method\":\"a\"}",
	    RPC_ERR_INVALID_REQUEST, "\"x\"" },
	{ "{\"jsonrpc\":\"2.0 \",\"id\":1,\"method\":\"a\"}",
	    RPC_ERR_INVALID_REQUEST, "1" },
	/* method missing or not a string. */
	{ "{\"jsonrpc\":\"2.0\",\"id\":2}", RPC_ERR_INVALID_REQUEST, "2" },
	{ "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":5}", RPC_ERR_INVALID_REQUEST,
	    "3" },
	{ "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":null}",
	    RPC_ERR_INVALID_REQUEST, "4" },
	{ "{\"jsonrpc\":\"2.0\",\"id\":\"q\",\"method\":[\"a\"]}",
	    RPC_ERR_INVALID_REQUEST, "\"q\"" },
	{ "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":{}}",
	    RPC_ERR_INVALID_REQUEST, "null" },
	/* params: by name only; positional (array) parameters are refused. */
	{ "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"a\",\"params\":[1,2]}",
	    RPC_ERR_INVALID_REQUEST, "5" },
	{ "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"a\",\"params\":[]}",
	    RPC_ERR_INVALID_REQUEST, "6" },
	{ "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"a\",\"params\":\"x\"}",
	    RPC_ERR_INVALID_REQUEST, "7" },
	{ "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"a\",\"params\":3}",
	    RPC_ERR_INVALID_REQUEST, "8" },
	{ "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"a\",\"params\":true}",
	    RPC_ERR_INVALID_REQUEST, "9" },
	/* An id that is not a string, number or null cannot be echoed. */
	{ "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"a\"}",
	    RPC_ERR_INVALID_REQUEST, NULL },
	{ "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"a\"}",
	    RPC_ERR_INVALID_REQUEST, NULL },
	{ "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"a\"}",
	    RPC_ERR_INVALID_REQUEST, NULL },
};

START_TEST(test_parse_bad)
{
	json_t *req = NULL, *id = NULL, *params = NULL;
	const char *method = NULL;
	char err[256] = "";
	char *idt;
	int r;

	r = rpc_parse_request(bad[_i].in, strlen(bad[_i].in), &req, &id,
	    &method, &params, err, sizeof(err));
	ck_assert_msg(r == bad[_i].code, "%s: got %d, want %d (%s)",
	    bad[_i].in, r, bad[_i].code, err);
	ck_assert_msg(strlen(err) > 0, "%s: no message", bad[_i].in);
	idt = id_text(id);
	if (bad[_i].id == NULL)
		ck_assert_msg(id == NULL, "%s: id %s", bad[_i].in, idt);
	else
		ck_assert_msg(idt != NULL && strcmp(idt, bad[_i].id) == 0,
		    "%s: id %s, want %s", bad[_i].in, idt ? idt : "(none)",
		    bad[_i].id);
	free(idt);
	/* The id is borrowed from req, which the caller still owns. */
	if (req != NULL)
		json_decref(req);
}
END_TEST

START_TEST(test_parse_respects_len)
{
	static const char line[] =
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\"}GARBAGE";
	json_t *req, *id, *params;
	const char *method;
	char err[256];
	size_t n = strlen(line) - strlen("GARBAGE");

	ck_assert_int_eq(rpc_parse_request(line, n, &req, &id, &method, &params,
	    err, sizeof(err)), 0);
	ck_assert_str_eq(method, "a");
	json_decref(req);
	ck_assert_int_eq(rpc_parse_request(line, strlen(line), &req, &id,
	    &method, &params, err, sizeof(err)), RPC_ERR_PARSE);
	if (req != NULL)
		json_decref(req);
	/* Cut short inside the object: a parse error, not a read past n. */
	ck_assert_int_eq(rpc_parse_request(line, 10, &req, &id, &method,
	    &params, err, sizeof(err)), RPC_ERR_PARSE);
	if (req != NULL)
		json_decref(req);
}
END_TEST

START_TEST(test_parse_nul_and_small_err)
{
	static const char line[] = "{\"jsonrpc\":\"2.0\",\0\"method\":\"a\"}";
	json_t *req = NULL, *id, *params;
	const char *method;
	char err[4];

	ck_assert_int_ne(rpc_parse_request(line, sizeof(line) - 1, &req, &id,
	    &method, &params, err, sizeof(err)), 0);
	ck_assert_uint_lt(strlen(err), sizeof(err));
	if (req != NULL)
		json_decref(req);
	req = NULL;
	ck_assert_int_eq(rpc_parse_request("{", 1, &req, &id, &method, &params,
	    NULL, 0), RPC_ERR_PARSE);
	if (req != NULL)
		json_decref(req);
}
END_TEST

/* Encodes msg and checks it is one line starting {"jsonrpc":"2.0", */
static json_t *
encode_and_check(json_t *msg)
{
	json_error_t jerr;
	json_t *back;
	size_t len, line_len;
	char *s;

	ck_assert_ptr_nonnull(msg);
	s = rpc_encode(msg, &len);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(len, strlen(s));
	ck_assert_msg(strncmp(s, "{\"jsonrpc\":\"2.0\",", 17) == 0, "%s", s);
	ck_assert_int_eq(rpc_line_scan((const uint8_t *)s, len, RPC_MAX_LINE,
	    &line_len), 1);
	ck_assert_uint_eq(line_len, len - 1);
	back = json_loadb(s, line_len, 0, &jerr);
	ck_assert_msg(back != NULL, "%s: %s", s, jerr.text);
	ck_assert(json_equal(back, msg));
	free(s);
	return back;
}

START_TEST(test_build_request)
{
	json_t *params = json_pack("{s:s}", "path", "/srv/x");
	json_t *msg, *back, *req, *id, *p;
	const char *method;
	char err[128];
	char *line;
	size_t len;

	/* Builders take their own reference to params: the caller keeps its. */
	msg = rpc_request(7, "torrent.share", params);
	back = encode_and_check(msg);
	ck_assert_int_eq(json_integer_value(json_object_get(back, "id")), 7);
	ck_assert_str_eq(json_string_value(json_object_get(back, "method")),
	    "torrent.share");
	ck_assert(json_equal(json_object_get(back, "params"), params));

	/* What one side builds, the other side accepts. */
	line = rpc_encode(msg, &len);
	ck_assert_int_eq(rpc_parse_request(line, len - 1, &req, &id, &method,
	    &p, err, sizeof(err)), 0);
	ck_assert_str_eq(method, "torrent.share");
	ck_assert_int_eq(json_integer_value(id), 7);
	ck_assert(json_equal(p, params));
	json_decref(req);
	free(line);
	json_decref(back);
	json_decref(msg);
	json_decref(params);

	msg = rpc_request(-1, "session.status", NULL);
	back = encode_and_check(msg);
	ck_assert_ptr_null(json_object_get(back, "params"));
	json_decref(back);
	json_decref(msg);
}
END_TEST

START_TEST(test_build_result)
{
	json_t *id = json_string("abc"), *result = json_pack("{s:i}", "n", 3);
	json_t *msg, *back;

	msg = rpc_result(id, result);
	back = encode_and_check(msg);
	ck_assert_str_eq(json_string_value(json_object_get(back, "id")), "abc");
	ck_assert(json_equal(json_object_get(back, "result"), result));
	ck_assert_ptr_null(json_object_get(back, "error"));
	json_decref(back);
	json_decref(msg);

	/* No id to echo: JSON-RPC says "id":null, never a missing id. */
	msg = rpc_result(NULL, result);
	back = encode_and_check(msg);
	ck_assert(json_is_null(json_object_get(back, "id")));
	json_decref(back);
	json_decref(msg);
	json_decref(id);
	json_decref(result);
}
END_TEST

START_TEST(test_build_error)
{
	json_t *id = json_integer(12), *msg, *back, *e;

	msg = rpc_error(id, RPC_ERR_NOT_FOUND, "no torrent matches 'abc123'");
	back = encode_and_check(msg);
	ck_assert_int_eq(json_integer_value(json_object_get(back, "id")), 12);
	ck_assert_ptr_null(json_object_get(back, "result"));
	e = json_object_get(back, "error");
	ck_assert(json_is_object(e));
	ck_assert_int_eq(json_integer_value(json_object_get(e, "code")),
	    RPC_ERR_NOT_FOUND);
	ck_assert_str_eq(json_string_value(json_object_get(e, "message")),
	    "no torrent matches 'abc123'");
	json_decref(back);
	json_decref(msg);
	json_decref(id);

	msg = rpc_error(NULL, RPC_ERR_PARSE, NULL);
	back = encode_and_check(msg);
	ck_assert(json_is_null(json_object_get(back, "id")));
	e = json_object_get(back, "error");
	ck_assert_int_eq(json_integer_value(json_object_get(e, "code")),
	    RPC_ERR_PARSE);
	ck_assert(json_is_string(json_object_get(e, "message")));
	json_decref(back);
	json_decref(msg);
}
END_TEST

START_TEST(test_build_notification)
{
	json_t *params = json_pack("{s:s}", "type", "torrent.added");
	json_t *msg, *back;

	msg = rpc_notification("event", params);
	back = encode_and_check(msg);
	/* A notification has no id at all. */
	ck_assert_ptr_null(json_object_get(back, "id"));
	ck_assert_str_eq(json_string_value(json_object_get(back, "method")),
	    "event");
	ck_assert(json_equal(json_object_get(back, "params"), params));
	json_decref(back);
	json_decref(msg);
	json_decref(params);
}
END_TEST

START_TEST(test_encode_one_line)
{
	/* Newlines inside strings must be escaped, or framing breaks. */
	json_t *r = json_string("line one\nline two\r\n\xc3\xa9");
	json_t *msg = rpc_result(NULL, r);
	json_t *back;
	size_t len;
	char *s;

	s = rpc_encode(msg, &len);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_eq(strchr(s, '\n'), s + len - 1);
	ck_assert_ptr_null(strchr(s, '\r'));
	back = json_loadb(s, len, 0, NULL);
	ck_assert_ptr_nonnull(back);
	ck_assert(json_equal(json_object_get(back, "result"), r));
	json_decref(back);
	free(s);
	/* len is optional. */
	s = rpc_encode(msg, NULL);
	ck_assert_ptr_nonnull(s);
	free(s);
	json_decref(msg);
	json_decref(r);
}
END_TEST

START_TEST(test_error_names)
{
	static const int codes[] = { RPC_ERR_PARSE, RPC_ERR_INVALID_REQUEST,
	    RPC_ERR_NO_METHOD, RPC_ERR_PARAMS, RPC_ERR_INTERNAL,
	    RPC_ERR_NOT_FOUND, RPC_ERR_AMBIGUOUS, RPC_ERR_INVALID_TORRENT,
	    RPC_ERR_EXISTS, RPC_ERR_IO, RPC_ERR_BUSY, RPC_ERR_LIMIT,
	    RPC_ERR_SHUTDOWN };
	const size_t n = sizeof(codes) / sizeof(codes[0]);

	/* docs/control-api.md names them; scripts match on these. */
	ck_assert_str_eq(rpc_error_name(RPC_ERR_PARSE), "parse_error");
	ck_assert_str_eq(rpc_error_name(RPC_ERR_NOT_FOUND), "not_found");
	ck_assert_str_eq(rpc_error_name(RPC_ERR_IO), "io_error");
	ck_assert_str_eq(rpc_error_name(RPC_ERR_SHUTDOWN), "shutting_down");
	for (size_t i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(rpc_error_name(codes[i]));
		for (size_t j = 0; j < i; j++)
			ck_assert_str_ne(rpc_error_name(codes[i]),
			    rpc_error_name(codes[j]));
	}
	ck_assert_ptr_nonnull(rpc_error_name(12345));
	ck_assert_int_ge(RPC_API_VERSION, 1);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("rpc");
	TCase *tc = tcase_create("rpc");

	tcase_add_loop_test(tc, test_line_scan, 0, sizeof(scans) / sizeof(scans[0]));
	tcase_add_test(tc, test_line_scan_max_line);
	tcase_add_test(tc, test_line_scan_edges);
	tcase_add_loop_test(tc, test_parse_good, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_loop_test(tc, test_parse_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_parse_respects_len);
	tcase_add_test(tc, test_parse_nul_and_small_err);
	tcase_add_test(tc, test_build_request);
	tcase_add_test(tc, test_build_result);
	tcase_add_test(tc, test_build_error);
	tcase_add_test(tc, test_build_notification);
	tcase_add_test(tc, test_encode_one_line);
	tcase_add_test(tc, test_error_names);
	suite_add_tcase(s, tc);
	return s;
}
