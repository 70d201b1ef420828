/* test-netaddr.c: address parsing, printing, comparison and compact forms (common/netaddr.c). */
#include "testmain.h"
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

/* Input, family, port, and how netaddr_format prints it back. */
static const struct {
	const char *in;
	int family;
	unsigned port;
	const char *out;
} good[] = {
	{ "1.2.3.4:6881", AF_INET, 6881, "1.2.3.4:6881" },
	{ "127.0.0.1:0", AF_INET, 0, "127.0.0.1:0" },
	{ "255.255.255.255:65535", AF_INET, 65535, "255.255.255.255:65535" },
	{ "0.0.0.0:1", AF_INET, 1, "0.0.0.0:1" },
	{ "*:6881", AF_INET, 6881, "0.0.0.0:6881" },
	{ "1.2.3.4:00080", AF_INET, 80, "1.2.3.4:80" },
	{ "[::1]:6881", AF_INET6, 6881, "[::1]:6881" },
	{ "[::]:6881", AF_INET6, 6881, "[::]:6881" },
	{ "[::]:0", AF_INET6, 0, "[::]:0" },
	{ "[2001:DB8::1]:443", AF_INET6, 443, "[2001:db8::1]:443" },
	{ "[2001:db8:0:0:0:0:0:2]:1", AF_INET6, 1, "[2001:db8::2]:1" },
	{ "[::ffff:1.2.3.4]:5", AF_INET6, 5, "[::ffff:1.2.3.4]:5" },
	{ "[fe80::1%2]:6881", AF_INET6, 6881, "[fe80::1%2]:6881" },
};

/* Input and a word the error message must contain. */
static const struct {
	const char *in;
	const char *why;
} bad[] = {
	{ "", "empty" },
	{ "1.2.3.4", "missing port" },
	{ "1.2.3.4:", "port" },
	{ "1.2.3.4:65536", "port" },
	{ "1.2.3.4:99999999", "port" },
	{ "1.2.3.4:-1", "port" },
	{ "1.2.3.4:+1", "port" },
	{ "1.2.3.4: 1", "port" },
	{ "1.2.3.4:1 ", "port" },
	{ "1.2.3.4:0x10", "port" },
	{ ":6881", "IPv4" },
	{ "1.2.3:6881", "IPv4" },
	{ "1.2.3.256:6881", "IPv4" },
	{ "01.2.3.4:6881", "IPv4" },
	{ "localhost:6881", "looked up" },
	{ "example.org:80", "looked up" },
	{ "::1:6881", "brackets" },
	{ "[::1]", "missing port" },
	{ "[::1]6881", "missing port" },
	{ "[::1:6881", "']'" },
	{ "[]:6881", "IPv6" },
	{ "[1.2.3.4]:6881", "IPv6" },
	{ "[::g]:6881", "IPv6" },
	{ "[fe80::1%eth0]:6881", "IPv6" },
	{ "[fe80::1%]:6881", "IPv6" },
	{ "[*]:6881", "IPv6" },
	{ "**:6881", "IPv4" },
	{ "1.2.3.4:6881:1", "brackets" },
	{ "[0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000]:1",
	    "IPv6" },
};

START_TEST(test_parse_good)
{
	struct netaddr a;
	char err[128], out[NETADDR_STRLEN];

	err[0] = '\0';
	ck_assert_msg(netaddr_parse(good[_i].in, &a, err, sizeof(err)) == 0,
	    "%s: %s", good[_i].in, err);
	ck_assert_int_eq(netaddr_family(&a), good[_i].family);
	ck_assert_uint_eq(netaddr_port(&a), good[_i].port);
	ck_assert_str_eq(netaddr_format(&a, out, sizeof(out)), good[_i].out);
	ck_assert_uint_eq(a.len, good[_i].family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
}
END_TEST

START_TEST(test_parse_bad)
{
	struct netaddr a;
	char err[128];

	err[0] = '\0';
	ck_assert_msg(netaddr_parse(bad[_i].in, &a, err, sizeof(err)) == -1,
	    "accepted '%s'", bad[_i].in);
	ck_assert_msg(strstr(err, bad[_i].why) != NULL,
	    "'%s': message '%s' lacks '%s'", bad[_i].in, err, bad[_i].why);
}
END_TEST

START_TEST(test_parse_null_and_small_err)
{
	struct netaddr a;
	char err[8];

	ck_assert_int_eq(netaddr_parse(NULL, &a, err, sizeof(err)), -1);
	ck_assert_int_eq(netaddr_parse("nope", &a, NULL, 0), -1);
	ck_assert_int_eq(netaddr_parse("nope", &a, err, sizeof(err)), -1);
	ck_assert_uint_lt(strlen(err), sizeof(err));
}
END_TEST

START_TEST(test_parse_control_chars_not_echoed)
{
	struct netaddr a;
	char err[128];

	ck_assert_int_eq(netaddr_parse("a\nb\033:1", &a, err, sizeof(err)), -1);
	ck_assert_ptr_null(strchr(err, '\n'));
	ck_assert_ptr_null(strchr(err, '\033'));
}
END_TEST

START_TEST(test_format_small_buffer)
{
	struct netaddr a;
	char out[6];

	ck_assert_int_eq(netaddr_parse("[2001:db8::1]:6881", &a, NULL, 0), 0);
	ck_assert_ptr_eq(netaddr_format(&a, out, sizeof(out)), out);
	ck_assert_str_eq(out, "[2001");
	ck_assert_ptr_eq(netaddr_format(&a, out, 0), out);
}
END_TEST

START_TEST(test_format_unset)
{
	struct netaddr a;
	char out[NETADDR_STRLEN];

	memset(&a, 0, sizeof(a));
	netaddr_format(&a, out, sizeof(out));
	ck_assert_uint_gt(strlen(out), 0);
	ck_assert_int_eq(netaddr_port(&a), 0);
	ck_assert_int_eq(netaddr_is_loopback(&a), 0);
}
END_TEST

START_TEST(test_set_port)
{
	struct netaddr a;
	char out[NETADDR_STRLEN];

	ck_assert_int_eq(netaddr_parse("10.0.0.1:0", &a, NULL, 0), 0);
	netaddr_set_port(&a, 51413);
	ck_assert_str_eq(netaddr_format(&a, out, sizeof(out)), "10.0.0.1:51413");
	ck_assert_int_eq(netaddr_parse("[::1]:0", &a, NULL, 0), 0);
	netaddr_set_port(&a, 65535);
	ck_assert_str_eq(netaddr_format(&a, out, sizeof(out)), "[::1]:65535");
}
END_TEST

static struct netaddr
addr(const char *s)
{
	struct netaddr a;
	char err[128];

	ck_assert_msg(netaddr_parse(s, &a, err, sizeof(err)) == 0, "%s: %s",
	    s, err);
	return a;
}

START_TEST(test_equal)
{
	struct netaddr a = addr("1.2.3.4:1"), b = addr("1.2.3.4:1");
	struct netaddr c = addr("1.2.3.4:2"), d = addr("1.2.3.5:1");
	struct netaddr m = addr("[::ffff:1.2.3.4]:1"), v6 = addr("[::1]:1");
	struct netaddr v6b = addr("[::1]:2"), z = addr("[::]:1");

	ck_assert(netaddr_equal(&a, &b));
	ck_assert(!netaddr_equal(&a, &c));
	ck_assert(netaddr_same_ip(&a, &c));
	ck_assert(!netaddr_same_ip(&a, &d));
	/* A dual-stack socket sees IPv4 peers as mapped addresses. */
	ck_assert(netaddr_equal(&a, &m));
	ck_assert(netaddr_equal(&m, &a));
	ck_assert(!netaddr_same_ip(&a, &v6));
	ck_assert(!netaddr_same_ip(&v6, &a));
	ck_assert(netaddr_same_ip(&v6, &v6b));
	ck_assert(!netaddr_equal(&v6, &v6b));
	ck_assert(!netaddr_same_ip(&v6, &z));
}
END_TEST

START_TEST(test_equal_scope)
{
	struct netaddr a = addr("[fe80::1%1]:1"), b = addr("[fe80::1%2]:1");
	struct netaddr c = addr("[fe80::1%1]:1");

	ck_assert(!netaddr_equal(&a, &b));
	ck_assert(netaddr_equal(&a, &c));
}
END_TEST

START_TEST(test_loopback)
{
	static const struct {
		const char *s;
		int loop;
	} t[] = {
		{ "127.0.0.1:1", 1 }, { "127.255.0.9:1", 1 },
		{ "128.0.0.1:1", 0 }, { "126.255.255.255:1", 0 },
		{ "0.0.0.0:1", 0 }, { "[::1]:1", 1 }, { "[::]:1", 0 },
		{ "[::2]:1", 0 }, { "[::ffff:127.0.0.2]:1", 1 },
		{ "[::ffff:10.0.0.1]:1", 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct netaddr a = addr(t[i].s);

		ck_assert_msg(netaddr_is_loopback(&a) == t[i].loop, "%s",
		    t[i].s);
	}
}
END_TEST

START_TEST(test_from_sockaddr)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr sa;
	struct netaddr a;
	char out[NETADDR_STRLEN];

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(80);
	sin.sin_addr.s_addr = htonl(0x0a000001);
	ck_assert_int_eq(netaddr_from_sockaddr(&a, (struct sockaddr *)&sin,
	    sizeof(sin)), 0);
	ck_assert_str_eq(netaddr_format(&a, out, sizeof(out)), "10.0.0.1:80");
	ck_assert_int_eq(netaddr_from_sockaddr(&a, (struct sockaddr *)&sin,
	    sizeof(sin) - 1), -1);

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(6881);
	sin6.sin6_addr = in6addr_loopback;
	ck_assert_int_eq(netaddr_from_sockaddr(&a, (struct sockaddr *)&sin6,
	    sizeof(sin6)), 0);
	ck_assert_str_eq(netaddr_format(&a, out, sizeof(out)), "[::1]:6881");
	ck_assert_uint_eq(a.len, sizeof(sin6));
	ck_assert_int_eq(netaddr_from_sockaddr(&a, (struct sockaddr *)&sin6,
	    sizeof(struct sockaddr_in)), -1);

	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	ck_assert_int_eq(netaddr_from_sockaddr(&a, &sa, sizeof(sa)), -1);
	ck_assert_int_eq(netaddr_from_sockaddr(&a, NULL, 0), -1);
}
END_TEST

START_TEST(test_compact_v4)
{
	/* BEP 23: 4 bytes of address, 2 of port, network order. */
	static const uint8_t c[6] = { 10, 1, 2, 3, 0x1a, 0xe1 };
	struct netaddr a;
	uint8_t out[18];
	char s[NETADDR_STRLEN];

	ck_assert_int_eq(netaddr_from_compact(&a, c, sizeof(c)), 0);
	ck_assert_str_eq(netaddr_format(&a, s, sizeof(s)), "10.1.2.3:6881");
	ck_assert_int_eq(netaddr_to_compact(&a, out, sizeof(out)), 6);
	ck_assert_mem_eq(out, c, 6);
	ck_assert_int_eq(netaddr_to_compact(&a, out, 5), -1);
	ck_assert_int_eq(netaddr_to_compact(&a, out, 6), 6);
}
END_TEST

START_TEST(test_compact_v6)
{
	/* BEP 7: 16 bytes of address, 2 of port. */
	static const uint8_t c[18] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff };
	struct netaddr a;
	uint8_t out[18];
	char s[NETADDR_STRLEN];

	ck_assert_int_eq(netaddr_from_compact(&a, c, sizeof(c)), 0);
	ck_assert_str_eq(netaddr_format(&a, s, sizeof(s)),
	    "[2001:db8::1]:65535");
	ck_assert_int_eq(netaddr_to_compact(&a, out, sizeof(out)), 18);
	ck_assert_mem_eq(out, c, 18);
	ck_assert_int_eq(netaddr_to_compact(&a, out, 17), -1);
}
END_TEST

START_TEST(test_compact_bad_length)
{
	static const uint8_t c[19] = { 0 };
	struct netaddr a;
	uint8_t out[18];

	for (size_t n = 0; n <= sizeof(c); n++)
		if (n != 6 && n != 18)
			ck_assert_int_eq(netaddr_from_compact(&a, c, n), -1);
	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(netaddr_to_compact(&a, out, sizeof(out)), -1);
}
END_TEST

START_TEST(test_round_trip)
{
	struct netaddr a, b;
	char s[NETADDR_STRLEN];

	ck_assert_int_eq(netaddr_parse(good[_i].in, &a, NULL, 0), 0);
	netaddr_format(&a, s, sizeof(s));
	ck_assert_int_eq(netaddr_parse(s, &b, NULL, 0), 0);
	ck_assert(netaddr_equal(&a, &b));
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("netaddr");
	TCase *tc = tcase_create("netaddr");

	tcase_add_loop_test(tc, test_parse_good, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_loop_test(tc, test_parse_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_loop_test(tc, test_round_trip, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_test(tc, test_parse_null_and_small_err);
	tcase_add_test(tc, test_parse_control_chars_not_echoed);
	tcase_add_test(tc, test_format_small_buffer);
	tcase_add_test(tc, test_format_unset);
	tcase_add_test(tc, test_set_port);
	tcase_add_test(tc, test_equal);
	tcase_add_test(tc, test_equal_scope);
	tcase_add_test(tc, test_loopback);
	tcase_add_test(tc, test_from_sockaddr);
	tcase_add_test(tc, test_compact_v4);
	tcase_add_test(tc, test_compact_v6);
	tcase_add_test(tc, test_compact_bad_length);
	suite_add_tcase(s, tc);
	return s;
}
