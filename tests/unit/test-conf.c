/* test-conf.c: the settings table, defaults, parser and printer (common/conf.c). */
#include "testmain.h"
#include "conf.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The environment variables conf_defaults and friends look at. */
static const char *const env_vars[] = {
	"STATE_DIRECTORY", "RUNTIME_DIRECTORY", "CONFIGURATION_DIRECTORY",
	"XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME",
	"HOME",
};

static void
env_clear(void)
{
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
}

/* The fixed environment the golden *.ok files were written for. */
static void
env_golden(void)
{
	env_clear();
	setenv("STATE_DIRECTORY", "/var/lib/p2pd-test", 1);
	setenv("RUNTIME_DIRECTORY", "/run/p2pd-test", 1);
}

/* conf_print into a malloc'd string. */
static char *
printed(const struct conf *c)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);

	ck_assert_ptr_nonnull(f);
	conf_print(c, f);
	fclose(f);
	return s;
}

static int
parse_str(struct conf *c, const char *text, char *err, size_t errlen)
{
	return conf_parse(c, text, strlen(text), err, errlen);
}

/*
 * tests/data/conf: P2P_TEST_DATA if set, else found from this file's path,
 * which the compiler saw relative to the build root where meson runs tests.
 */
static const char *
data_dir(void)
{
	static char dir[PATH_MAX];
	const char *env = getenv("P2P_TEST_DATA");
	const char *slash;

	if (env != NULL) {
		snprintf(dir, sizeof(dir), "%s/conf", env);
		return dir;
	}
	slash = strrchr(__FILE__, '/');
	snprintf(dir, sizeof(dir), "%.*s/../data/conf",
	    slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
	return dir;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *s = NULL;
	size_t n = 0;
	FILE *m;
	int ch;

	if (f == NULL)
		return NULL;
	m = open_memstream(&s, &n);
	ck_assert_ptr_nonnull(m);
	while ((ch = fgetc(f)) != EOF)
		fputc(ch, m);
	fclose(f);
	fclose(m);
	if (len != NULL)
		*len = n;
	return s;
}

static int
has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Good file: conf_print must match NAME.ok. Bad file: the error NAME.err. */
static void
golden_one(const char *dir, const char *name)
{
	char path[PATH_MAX], other[PATH_MAX], err[512];
	struct conf c;
	size_t base = strlen(name) - strlen(".conf");
	char *want, *got;
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	env_golden();
	conf_defaults(&c);
	err[0] = '\0';
	r = conf_load_file(&c, path, err, sizeof(err));
	snprintf(other, sizeof(other), "%s/%.*s.ok", dir, (int)base, name);
	if ((want = slurp(other, NULL)) != NULL) {
		ck_assert_msg(r == 0, "%s: %s", name, err);
		got = printed(&c);
		ck_assert_msg(strcmp(got, want) == 0,
		    "%s: printed\n%s\nexpected\n%s", name, got, want);
		free(got);
		free(want);
		conf_free(&c);
		return;
	}
	snprintf(other, sizeof(other), "%s/%.*s.err", dir, (int)base, name);
	want = slurp(other, NULL);
	ck_assert_msg(want != NULL, "%s: no .ok or .err beside it", name);
	want[strcspn(want, "\n")] = '\0';
	ck_assert_msg(r == -1, "%s: accepted", name);
	/* conf_load_file puts the path in front of conf_parse's message. */
	ck_assert_msg(strncmp(err, path, strlen(path)) == 0 &&
	    strncmp(err + strlen(path), ": ", 2) == 0, "%s: %s", name, err);
	ck_assert_msg(strcmp(err + strlen(path) + 2, want) == 0,
	    "%s: error\n%s\nexpected\n%s", name, err + strlen(path) + 2, want);
	free(want);
	conf_free(&c);
}

START_TEST(test_golden)
{
	const char *dir = data_dir();
	struct dirent **names;
	int n, good = 0, bad = 0;

	n = scandir(dir, &names, NULL, alphasort);
	ck_assert_msg(n > 0, "%s: %s (set P2P_TEST_DATA to tests/data)", dir,
	    strerror(errno));
	for (int i = 0; i < n; i++) {
		if (has_suffix(names[i]->d_name, ".conf")) {
			golden_one(dir, names[i]->d_name);
			if (strncmp(names[i]->d_name, "bad-", 4) == 0)
				bad++;
			else
				good++;
		}
		free(names[i]);
	}
	free(names);
	ck_assert_int_ge(good, 5);
	ck_assert_int_ge(bad, 20);
}
END_TEST

START_TEST(test_defaults_systemd)
{
	struct conf c;
	char *s;

	env_clear();
	setenv("STATE_DIRECTORY", "/var/lib/p2pd:/var/lib/other", 1);
	setenv("RUNTIME_DIRECTORY", "/run/p2pd", 1);
	setenv("CONFIGURATION_DIRECTORY", "/etc/p2pd", 1);
	setenv("HOME", "/home/u", 1);
	setenv("XDG_STATE_HOME", "/home/u/st", 1);
	conf_defaults(&c);
	/* systemd wins over XDG; only the first of several directories. */
	ck_assert_str_eq(c.state_dir, "/var/lib/p2pd");
	ck_assert_str_eq(c.download_dir, "/var/lib/p2pd/downloads");
	ck_assert_str_eq(c.socket_path, "/run/p2pd/p2pd.sock");
	s = conf_default_path();
	ck_assert_str_eq(s, "/etc/p2pd/p2pd.conf");
	free(s);
	ck_assert_uint_eq(c.listen_count, 2);
	ck_assert_str_eq(c.listen[0], "0.0.0.0:6881");
	ck_assert_str_eq(c.listen[1], "[::]:6881");
	ck_assert_int_eq(c.log_level, LOG_LVL_INFO);
	ck_assert_int_eq(c.dht, 1);
	ck_assert_int_eq(c.lsd, 1);
	ck_assert_uint_eq(c.dht_bootstrap_count, 0);
	ck_assert_ptr_null(c.tracker_listen);
	ck_assert_uint_eq(c.default_tracker_count, 0);
	ck_assert_int_eq(c.workers, 0);
	ck_assert_int_eq(c.max_torrents, 10000);
	ck_assert_int_eq(c.control_max_clients, 256);
	conf_free(&c);
}
END_TEST

START_TEST(test_defaults_xdg)
{
	struct conf c;
	char *s;

	env_clear();
	setenv("HOME", "/home/u", 1);
	setenv("XDG_STATE_HOME", "/x/state", 1);
	setenv("XDG_DATA_HOME", "/x/data", 1);
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	setenv("XDG_CONFIG_HOME", "/x/config", 1);
	conf_defaults(&c);
	ck_assert_str_eq(c.state_dir, "/x/state/p2pd");
	ck_assert_str_eq(c.download_dir, "/x/data/p2pd/downloads");
	ck_assert_str_eq(c.socket_path, "/run/user/1000/p2pd/p2pd.sock");
	conf_free(&c);
	s = conf_default_socket();
	ck_assert_str_eq(s, "/run/user/1000/p2pd/p2pd.sock");
	free(s);
	s = conf_default_path();
	ck_assert_str_eq(s, geteuid() == 0 ? "/etc/p2pd/p2pd.conf" :
	    "/x/config/p2pd/p2pd.conf");
	free(s);
}
END_TEST

START_TEST(test_defaults_home)
{
	struct conf c;
	char *s;

	env_clear();
	setenv("HOME", "/home/u", 1);
	/* The XDG spec says relative values are to be ignored. */
	setenv("XDG_STATE_HOME", "relative/state", 1);
	conf_defaults(&c);
	ck_assert_str_eq(c.state_dir, "/home/u/.local/state/p2pd");
	ck_assert_str_eq(c.download_dir, "/home/u/.local/share/p2pd/downloads");
	conf_free(&c);
	s = conf_default_path();
	ck_assert_str_eq(s, geteuid() == 0 ? "/etc/p2pd/p2pd.conf" :
	    "/home/u/.config/p2pd/p2pd.conf");
	free(s);
}
END_TEST

START_TEST(test_defaults_bare)
{
	struct conf c;
	char want[64];
	char *s;

	env_clear();
	conf_defaults(&c);
	s = conf_default_socket();
	if (geteuid() == 0) {
		ck_assert_str_eq(c.state_dir, "/var/lib/p2pd");
		ck_assert_str_eq(c.download_dir, "/var/lib/p2pd/downloads");
		ck_assert_str_eq(s, "/run/p2pd/p2pd.sock");
	} else {
		snprintf(want, sizeof(want), "/tmp/p2pd-%u/p2pd.sock",
		    (unsigned)geteuid());
		ck_assert_str_eq(s, want);
		ck_assert_int_eq(c.state_dir[0], '/');
	}
	ck_assert_str_eq(c.socket_path, s);
	free(s);
	conf_free(&c);
}
END_TEST

/* Key, value, and what the printed line must then say (NULL: refused). */
static const struct {
	const char *key;
	const char *value;
	const char *line;
} sets[] = {
	{ "state_dir", "/srv/s", "state_dir = /srv/s\n" },
	{ "state_dir", "srv/s", NULL },
	{ "state_dir", "", NULL },
	{ "download_dir", "/srv/my files", "download_dir = \"/srv/my files\"\n" },
	{ "socket", "/run/x.sock", "socket = /run/x.sock\n" },
	{ "socket", "x.sock", NULL },
	{ "listen", "127.0.0.1:0", "listen = 127.0.0.1:0\n" },
	{ "listen", "localhost:1", NULL },
	{ "log_level", "debug", "log_level = debug\n" },
	{ "log_level", "warn", "log_level = warning\n" },
	{ "log_level", "DEBUG", NULL },
	{ "dht", "off", "dht = no\n" },
	{ "dht", "YES", "dht = yes\n" },
	{ "dht", "2", NULL },
	{ "lsd", "false", "lsd = no\n" },
	{ "lsd", "", NULL },
	{ "dht_bootstrap", "dht.example.net:6881",
	    "dht_bootstrap = dht.example.net:6881\n" },
	{ "dht_bootstrap", "[2001:db8::1]:6881",
	    "dht_bootstrap = [2001:db8::1]:6881\n" },
	{ "dht_bootstrap", "[2001:db8::1]:0", NULL },
	{ "dht_bootstrap", "dht.example.net", NULL },
	{ "tracker_listen", "[::]:8000", "tracker_listen = [::]:8000\n" },
	{ "tracker_listen", "*:8000", "tracker_listen = *:8000\n" },
	{ "tracker_listen", "8000", NULL },
	{ "default_tracker", "HTTPS://t.example/announce",
	    "default_tracker = HTTPS://t.example/announce\n" },
	{ "default_tracker", "udp://[2001:db8::1]:6969",
	    "default_tracker = udp://[2001:db8::1]:6969\n" },
	{ "default_tracker", "udp://[2001:db8::1]/announce", NULL },
	{ "default_tracker", "udp://t.example:/announce", NULL },
	{ "default_tracker", "udp://t.example:69x/announce", NULL },
	{ "default_tracker", "http://", NULL },
	{ "default_tracker", "http://:80/", NULL },
	{ "default_tracker", "wss://t.example/", NULL },
	{ "workers", "0", "workers = 0\n" },
	{ "workers", "256", "workers = 256\n" },
	{ "workers", "-0", "workers = 0\n" },
	{ "workers", "+1", NULL },
	{ "workers", " 1", NULL },
	{ "workers", "1 ", NULL },
	{ "workers", "0x10", NULL },
	{ "max_torrents", "1", "max_torrents = 1\n" },
	{ "max_torrents", "1000001", NULL },
	{ "control_max_clients", "100000", "control_max_clients = 100000\n" },
	{ "control_max_clients", "100001", NULL },
	{ "nope", "1", NULL },
	{ "", "1", NULL },
};

START_TEST(test_set)
{
	struct conf c;
	char err[256];
	char *before, *after;
	int r;

	env_golden();
	conf_defaults(&c);
	before = printed(&c);
	err[0] = '\0';
	r = conf_set(&c, sets[_i].key, sets[_i].value, err, sizeof(err));
	after = printed(&c);
	if (sets[_i].line == NULL) {
		ck_assert_msg(r == -1, "%s = '%s' accepted", sets[_i].key,
		    sets[_i].value);
		ck_assert_uint_gt(strlen(err), 0);
		ck_assert_str_eq(before, after);
	} else {
		ck_assert_msg(r == 0, "%s = '%s': %s", sets[_i].key,
		    sets[_i].value, err);
		ck_assert_msg(strstr(after, sets[_i].line) != NULL,
		    "no '%s' in\n%s", sets[_i].line, after);
	}
	free(before);
	free(after);
	conf_free(&c);
}
END_TEST

START_TEST(test_set_appends_and_clear)
{
	struct conf c;
	char err[256];

	env_golden();
	conf_defaults(&c);
	/* conf_set adds to a list; conf_clear first makes it replace. */
	ck_assert_int_eq(conf_set(&c, "listen", "127.0.0.1:1", err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(c.listen_count, 3);
	ck_assert_int_eq(conf_clear(&c, "listen", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.listen_count, 0);
	ck_assert_ptr_null(c.listen[0]);
	ck_assert_int_eq(conf_set(&c, "listen", "127.0.0.1:1", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(conf_set(&c, "listen", "127.0.0.1:1", err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "given twice"));
	ck_assert_uint_eq(c.listen_count, 1);

	ck_assert_int_eq(conf_set(&c, "tracker_listen", "127.0.0.1:2", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(conf_clear(&c, "tracker_listen", err, sizeof(err)), 0);
	ck_assert_ptr_null(c.tracker_listen);

	ck_assert_int_eq(conf_clear(&c, "workers", err, sizeof(err)), -1);
	ck_assert_int_eq(conf_clear(&c, "state_dir", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(c.state_dir);
	ck_assert_int_eq(conf_clear(&c, "bogus", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "unknown key 'bogus'"));
	conf_free(&c);
}
END_TEST

START_TEST(test_list_limit)
{
	struct conf c;
	char err[256], v[64];

	env_golden();
	conf_defaults(&c);
	for (int i = 0; i < CONF_MAX_LIST; i++) {
		snprintf(v, sizeof(v), "udp://t%d.example:1/", i);
		ck_assert_int_eq(conf_set(&c, "default_tracker", v, err,
		    sizeof(err)), 0);
	}
	ck_assert_int_eq(conf_set(&c, "default_tracker", "http://x.example/",
	    err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "more than 16"));
	ck_assert_uint_eq(c.default_tracker_count, CONF_MAX_LIST);
	conf_free(&c);
}
END_TEST

START_TEST(test_parse_failure_leaves_conf)
{
	struct conf c;
	char err[256];
	char *before, *after;

	env_golden();
	conf_defaults(&c);
	before = printed(&c);
	/* Good lines first: a failure later must undo them too. */
	ck_assert_int_eq(parse_str(&c, "workers = 3\nlisten = 127.0.0.1:1\n"
	    "state_dir = /elsewhere\ndht = perhaps\n", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "line 4: dht: expected yes or no, not 'perhaps'");
	after = printed(&c);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	conf_free(&c);
}
END_TEST

START_TEST(test_parse_on_top)
{
	struct conf c;
	char err[256];

	env_golden();
	conf_defaults(&c);
	ck_assert_int_eq(parse_str(&c, "workers = 3\nlisten = 127.0.0.1:1\n",
	    err, sizeof(err)), 0);
	/* A second text (SIGHUP, or -c after defaults) applies over the first. */
	ck_assert_int_eq(parse_str(&c, "listen = 127.0.0.1:2\n"
	    "listen = 127.0.0.1:3\nworkers = 5\n", err, sizeof(err)), 0);
	ck_assert_int_eq(c.workers, 5);
	ck_assert_uint_eq(c.listen_count, 2);
	ck_assert_str_eq(c.listen[0], "127.0.0.1:2");
	ck_assert_str_eq(c.listen[1], "127.0.0.1:3");
	ck_assert_int_eq(parse_str(&c, "lsd = no\n", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.listen_count, 2);
	ck_assert_int_eq(c.workers, 5);
	conf_free(&c);
}
END_TEST

START_TEST(test_print_round_trip)
{
	struct conf c, d;
	char err[256];
	char *a, *b;

	env_golden();
	conf_defaults(&c);
	ck_assert_int_eq(parse_str(&c,
	    "state_dir = \"/srv/odd \\\"dir\\\\ # x\"\n"
	    "download_dir = /srv/a#b\n"
	    "dht_bootstrap = a.example:1\ndht_bootstrap = [::1]:2\n"
	    "default_tracker = http://t.example/a?b=c#d\n"
	    "tracker_listen = 127.0.0.1:9\nlog_level = err\nlsd = no\n",
	    err, sizeof(err)), 0);
	ck_assert_str_eq(c.state_dir, "/srv/odd \"dir\\ # x");
	ck_assert_str_eq(c.download_dir, "/srv/a#b");
	a = printed(&c);
	conf_defaults(&d);
	ck_assert_msg(parse_str(&d, a, err, sizeof(err)) == 0, "%s\n%s", err, a);
	b = printed(&d);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	conf_free(&c);
	conf_free(&d);
}
END_TEST

START_TEST(test_print_defaults_round_trip)
{
	struct conf c, d;
	char err[256];
	char *a, *b;

	env_golden();
	conf_defaults(&c);
	conf_defaults(&d);
	a = printed(&c);
	ck_assert_msg(parse_str(&d, a, err, sizeof(err)) == 0, "%s", err);
	b = printed(&d);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	conf_free(&c);
	conf_free(&d);
}
END_TEST

START_TEST(test_copy)
{
	struct conf c, d;
	char err[256];
	char *a, *b;

	env_golden();
	conf_defaults(&c);
	ck_assert_int_eq(parse_str(&c, "tracker_listen = 127.0.0.1:9\n"
	    "default_tracker = http://t.example/\n", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_copy(&d, &c), 0);
	ck_assert_ptr_ne(d.state_dir, c.state_dir);
	ck_assert_ptr_ne(d.listen[0], c.listen[0]);
	ck_assert_ptr_ne(d.tracker_listen, c.tracker_listen);
	ck_assert_ptr_ne(d.default_trackers[0], c.default_trackers[0]);
	a = printed(&c);
	conf_free(&c);
	/* d must not share anything with the freed c (ASan would see it). */
	b = printed(&d);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	conf_free(&d);
}
END_TEST

START_TEST(test_limits)
{
	struct conf c;
	char err[256];
	char *text;
	size_t n;

	env_golden();
	conf_defaults(&c);

	/* A line of exactly CONF_MAX_LINE bytes is fine, one more is not. */
	text = malloc(CONF_MAX_LINE + 2);
	ck_assert_ptr_nonnull(text);
	memset(text, ' ', CONF_MAX_LINE + 1);
	memcpy(text, "workers = 7", 11);
	text[CONF_MAX_LINE] = '\n';
	ck_assert_msg(conf_parse(&c, text, CONF_MAX_LINE + 1, err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(c.workers, 7);
	text[CONF_MAX_LINE] = ' ';
	text[CONF_MAX_LINE + 1] = '\n';
	ck_assert_int_eq(conf_parse(&c, text, CONF_MAX_LINE + 2, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "line 1: longer than 4096 bytes");
	/* The last line needs no newline, and still counts. */
	ck_assert_int_eq(conf_parse(&c, text, CONF_MAX_LINE + 1, err,
	    sizeof(err)), -1);
	free(text);

	/* Over CONF_MAX_FILE is refused before anything is read. */
	n = (size_t)CONF_MAX_FILE + 1;
	text = malloc(n);
	ck_assert_ptr_nonnull(text);
	memset(text, '\n', n);
	ck_assert_int_eq(conf_parse(&c, text, n, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "larger than"));
	ck_assert_int_eq(conf_parse(&c, text, n - 1, err, sizeof(err)), 0);
	free(text);

	/* NUL anywhere, even in a comment. */
	ck_assert_int_eq(conf_parse(&c, "# a\0b\n", 6, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "line 1: NUL byte");
	ck_assert_int_eq(c.workers, 7);
	conf_free(&c);
}
END_TEST

START_TEST(test_small_err_buffer)
{
	struct conf c;
	char err[10];

	env_golden();
	conf_defaults(&c);
	ck_assert_int_eq(parse_str(&c, "bogus_key_with_a_long_name = 1\n",
	    err, sizeof(err)), -1);
	ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
	ck_assert_int_eq(parse_str(&c, "bogus = 1\n", NULL, 0), -1);
	ck_assert_int_eq(conf_set(&c, "workers", "x", NULL, 0), -1);
	conf_free(&c);
}
END_TEST

START_TEST(test_error_hides_control_bytes)
{
	struct conf c;
	char err[256];

	env_golden();
	conf_defaults(&c);
	ck_assert_int_eq(conf_set(&c, "workers", "1\033[2J", err, sizeof(err)),
	    -1);
	ck_assert_ptr_null(strchr(err, '\033'));
	ck_assert_int_eq(parse_str(&c, "k\033ey = 1\n", err, sizeof(err)), -1);
	ck_assert_ptr_null(strchr(err, '\033'));
	conf_free(&c);
}
END_TEST

START_TEST(test_load_file_errors)
{
	struct conf c;
	char err[512], dir[] = "/tmp/test-conf-XXXXXX", path[600];
	FILE *f;

	env_golden();
	conf_defaults(&c);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	ck_assert_int_eq(conf_load_file(&c, path, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_ptr_nonnull(strstr(err, strerror(ENOENT)));
	ck_assert_int_eq(conf_load_file(&c, dir, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));

	/* A file just over the limit, though every line would be fine. */
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i <= CONF_MAX_FILE; i++)
		fputc('\n', f);
	fclose(f);
	ck_assert_int_eq(conf_load_file(&c, path, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "larger than"));

	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("workers = 9\n", f);
	fclose(f);
	ck_assert_int_eq(conf_load_file(&c, path, err, sizeof(err)), 0);
	ck_assert_int_eq(c.workers, 9);
	unlink(path);
	rmdir(dir);
	conf_free(&c);
}
END_TEST

START_TEST(test_rates)
{
	static const struct { const char *in; uint64_t want; } good[] = {
		{ "0", 0 }, { "512", 512 }, { "500K", 512000 }, { "10M", 10485760 },
		{ "1GiB", 1073741824 }, { "2k", 2048 }, { "100B", 100 },
	};
	static const char *const bad[] = { "", "K", "-1", "1.5M", "10X", "10 M",
	    "99999999999999999999", "1MB2" };
	struct conf c;
	char err[256];
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_int_eq(conf_parse_size(good[i].in, &v), 0);
		ck_assert_uint_eq(v, good[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(conf_parse_size(bad[i], &v) == -1, "%s accepted", bad[i]);
	env_golden();
	conf_defaults(&c);
	ck_assert_int_eq(conf_set(&c, "upload_rate_limit", "10M", err, sizeof(err)), 0);
	ck_assert_int_eq(c.upload_rate_limit, 10485760);
	ck_assert_int_eq(conf_set(&c, "download_rate_limit", "3G", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "largest rate"));
	ck_assert_int_eq(conf_set(&c, "upload_slots", "0", err, sizeof(err)), -1);
	conf_free(&c);
}
END_TEST

START_TEST(test_keys_table)
{
	const struct conf_key_info *k;
	struct conf c;
	char *out;
	size_t n = conf_keys(&k);
	static const char *const types[] = { "path", "addr", "hostport",
	    "url", "bool", "int", "level", "rate", "size" };

	ck_assert_uint_eq(n, 26);
	env_golden();
	conf_defaults(&c);
	out = printed(&c);
	for (size_t i = 0; i < n; i++) {
		char line[128];
		int known = 0;

		ck_assert_ptr_nonnull(k[i].doc);
		ck_assert_uint_gt(strlen(k[i].doc), 10);
		for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
			known |= strcmp(k[i].type, types[t]) == 0;
		ck_assert_msg(known, "%s: type %s", k[i].name, k[i].type);
		for (size_t j = 0; j < i; j++)
			ck_assert_str_ne(k[i].name, k[j].name);
		/* Every key is printed, set or not. */
		snprintf(line, sizeof(line), "%s = ", k[i].name);
		if (strstr(out, line) == NULL) {
			snprintf(line, sizeof(line), "# %s ", k[i].name);
			ck_assert_msg(strstr(out, line) != NULL, "%s missing",
			    k[i].name);
		}
	}
	ck_assert_int_eq(k[3].repeatable, 1);
	ck_assert_str_eq(k[3].name, "listen");
	free(out);
	conf_free(&c);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("conf");

	tcase_add_test(tc, test_golden);
	tcase_add_test(tc, test_defaults_systemd);
	tcase_add_test(tc, test_defaults_xdg);
	tcase_add_test(tc, test_defaults_home);
	tcase_add_test(tc, test_defaults_bare);
	tcase_add_loop_test(tc, test_set, 0, sizeof(sets) / sizeof(sets[0]));
	tcase_add_test(tc, test_set_appends_and_clear);
	tcase_add_test(tc, test_list_limit);
	tcase_add_test(tc, test_parse_failure_leaves_conf);
	tcase_add_test(tc, test_parse_on_top);
	tcase_add_test(tc, test_print_round_trip);
	tcase_add_test(tc, test_print_defaults_round_trip);
	tcase_add_test(tc, test_copy);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_small_err_buffer);
	tcase_add_test(tc, test_error_hides_control_bytes);
	tcase_add_test(tc, test_load_file_errors);
	tcase_add_test(tc, test_keys_table);
	tcase_add_test(tc, test_rates);
	suite_add_tcase(s, tc);
	return s;
}
