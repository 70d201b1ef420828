/* test-metainfo.c: unit tests for .torrent parsing, sanitising, building and encoding. */
#include "testmain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"
#include "buf.h"
#include "metainfo.h"
#include "sha.h"

/*
 * Fixtures in tests/data, made once with the tools named below; the hashes
 * are what `transmission-show` printed for them.
 *   mktorrent -a http://tracker1.example/announce,http://tracker1b.example/announce
 *     -a udp://tracker2.example:6969/announce -c "p2pd test fixture" -l 15 -p -d
 *     p2pfixture                   (a.txt 40000, sub/b.bin 23456, sub/c.txt 11)
 *   transmission-create -s 16 -t http://single.example/announce single.txt (50000)
 */
#define MULTI_HASH "8ec39a5d480b1c18970f842d998786cdce2d6681"
#define SINGLE_HASH "42582ae913909a2d03a66ebfebb41dc35d354f89"

#define PIECE "AAAAAAAAAAAAAAAAAAAA"
#define TAIL "12:piece lengthi16384e6:pieces20:" PIECE
/* A multi-file info dict with one one-byte file at PATH (the list body). */
#define MULTI(PATH) "d5:filesld6:lengthi1e4:pathl" PATH "eee4:name3:dir" TAIL "e"
#define SINGLE(NAME) "d6:lengthi1e4:name" NAME TAIL "e"

/* meson runs tests from the build root, where __FILE__ is a valid relative path. */
static uint8_t *
load_fixture(const char *name, size_t *len)
{
	char path[4096];
	const char *dir = getenv("P2P_TEST_DATA");
	uint8_t *p;
	FILE *f;
	long n;

	if (dir != NULL)
		snprintf(path, sizeof(path), "%s/%s", dir, name);
	else {
		const char *slash = strrchr(__FILE__, '/');
		int dlen = slash ? (int)(slash - __FILE__) : 1;

		snprintf(path, sizeof(path), "%.*s/../data/%s", dlen,
		    slash ? __FILE__ : ".", name);
	}
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s (set P2P_TEST_DATA)", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	p = malloc((size_t)n);
	ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

static void
assert_hash(const struct metainfo *mi, const char *hex)
{
	char got[41];

	sha_hex(mi->info_hash, 20, got);
	ck_assert_str_eq(got, hex);
}

START_TEST(test_fixture_multi)
{
	struct metainfo *mi;
	char err[160];
	size_t len;
	uint8_t *p = load_fixture("metainfo-multi.torrent", &len);

	ck_assert_msg(metainfo_parse(p, len, NULL, &mi, err, sizeof(err)) == 0, "%s", err);
	assert_hash(mi, MULTI_HASH);
	ck_assert_str_eq(mi->name, "p2pfixture");
	ck_assert_int_eq(mi->multi_file, 1);
	ck_assert_int_eq(mi->private_flag, 1);
	ck_assert_uint_eq(mi->piece_length, 32768);
	ck_assert_uint_eq(mi->piece_count, 2);
	ck_assert_uint_eq(mi->total_length, 63467);
	ck_assert_uint_eq(mi->file_count, 3);
	ck_assert_str_eq(mi->files[0].path, "a.txt");
	ck_assert_str_eq(mi->files[1].path, "sub/b.bin");
	ck_assert_str_eq(mi->files[2].path, "sub/c.txt");
	ck_assert_uint_eq(mi->files[1].offset, 40000);
	ck_assert_uint_eq(mi->files[2].offset, 63456);
	ck_assert_uint_eq(mi->files[2].length, 11);
	ck_assert_uint_eq(metainfo_piece_size(mi, 0), 32768);
	ck_assert_uint_eq(metainfo_piece_size(mi, 1), 63467 - 32768);
	ck_assert_uint_eq(metainfo_piece_size(mi, 2), 0);
	ck_assert_uint_eq(mi->tracker_count, 3);
	ck_assert_str_eq(mi->trackers[0], "http://tracker1.example/announce");
	ck_assert_str_eq(mi->trackers[1], "http://tracker1b.example/announce");
	ck_assert_str_eq(mi->trackers[2], "udp://tracker2.example:6969/announce");
	ck_assert_uint_eq(mi->tiers[0], 0);
	ck_assert_uint_eq(mi->tiers[1], 0);
	ck_assert_uint_eq(mi->tiers[2], 1);
	ck_assert_str_eq(mi->comment, "p2pd test fixture");
	ck_assert_str_eq(mi->created_by, "mktorrent 1.1");
	ck_assert_int_eq(mi->creation_date, 0);
	metainfo_free(mi);
	free(p);
}
END_TEST

START_TEST(test_fixture_single)
{
	struct metainfo *mi;
	char err[160];
	size_t len;
	uint8_t *p = load_fixture("metainfo-single.torrent", &len);

	ck_assert_msg(metainfo_parse(p, len, NULL, &mi, err, sizeof(err)) == 0, "%s", err);
	assert_hash(mi, SINGLE_HASH);
	ck_assert_str_eq(mi->name, "single.txt");
	ck_assert_int_eq(mi->multi_file, 0);
	ck_assert_int_eq(mi->private_flag, 0);
	ck_assert_uint_eq(mi->piece_length, 16384);
	ck_assert_uint_eq(mi->piece_count, 4);
	ck_assert_uint_eq(mi->file_count, 1);
	ck_assert_str_eq(mi->files[0].path, "single.txt");
	ck_assert_uint_eq(mi->files[0].length, 50000);
	ck_assert_uint_eq(mi->tracker_count, 1);
	ck_assert_str_eq(mi->trackers[0], "http://single.example/announce");
	ck_assert_int_eq(mi->creation_date, 1795701560);
	ck_assert_ptr_null(mi->comment);
	ck_assert_ptr_nonnull(strstr(mi->created_by, "Transmission"));
	/* The info bytes are kept verbatim: parsing them alone gives the same hash. */
	{
		struct metainfo *info;

		ck_assert_int_eq(metainfo_parse_info(mi->info, mi->info_len, NULL, &info,
		    err, sizeof(err)), 0);
		assert_hash(info, SINGLE_HASH);
		ck_assert_uint_eq(info->tracker_count, 0);
		metainfo_free(info);
	}
	metainfo_free(mi);
	free(p);
}
END_TEST

/* The mktorrent file uses exactly the keys we write, so encoding reproduces it. */
START_TEST(test_encode_fixture)
{
	struct metainfo *mi, *again;
	struct buf b;
	size_t len;
	uint8_t *p = load_fixture("metainfo-multi.torrent", &len);

	ck_assert_int_eq(metainfo_parse(p, len, NULL, &mi, NULL, 0), 0);
	buf_init(&b, 0);
	ck_assert_int_eq(metainfo_encode(mi, &b), 0);
	ck_assert_uint_eq(b.len, len);
	ck_assert_mem_eq(b.data, p, len);
	buf_free(&b);
	metainfo_free(mi);
	free(p);

	p = load_fixture("metainfo-single.torrent", &len);
	ck_assert_int_eq(metainfo_parse(p, len, NULL, &mi, NULL, 0), 0);
	buf_init(&b, 0);
	ck_assert_int_eq(metainfo_encode(mi, &b), 0);
	ck_assert_int_eq(metainfo_parse(b.data, b.len, NULL, &again, NULL, 0), 0);
	ck_assert_mem_eq(again->info_hash, mi->info_hash, 20);
	ck_assert_int_eq(again->creation_date, mi->creation_date);
	ck_assert_str_eq(again->created_by, mi->created_by);
	ck_assert_uint_eq(again->tracker_count, 1);
	metainfo_free(again);
	buf_free(&b);
	metainfo_free(mi);
	free(p);
}
END_TEST

/* Building the fixture's layout from its piece hashes must give mktorrent's info-hash. */
START_TEST(test_build_matches_fixture)
{
	static const struct mi_build_file files[] = {
		{ "a.txt", 40000 }, { "sub/b.bin", 23456 }, { "sub/c.txt", 11 },
	};
	static const char *const trackers[] = { "udp://a.example:1/announce",
	    "http://b.example/announce", "udp://a.example:1/announce" };
	struct metainfo *mi, *built, *again;
	struct mi_build in;
	struct buf b;
	char err[160];
	size_t len;
	uint8_t *p = load_fixture("metainfo-multi.torrent", &len);

	ck_assert_int_eq(metainfo_parse(p, len, NULL, &mi, NULL, 0), 0);
	memset(&in, 0, sizeof(in));
	in.name = "p2pfixture";
	in.multi_file = 1;
	in.files = files;
	in.file_count = 3;
	in.piece_length = mi->piece_length;
	in.pieces = mi->pieces;
	in.piece_count = mi->piece_count;
	in.private_flag = 1;
	in.trackers = trackers;
	in.tracker_count = 3;
	in.created_by = "p2pd test";
	in.creation_date = 1700000000;
	ck_assert_msg(metainfo_build(&in, &built, err, sizeof(err)) == 0, "%s", err);
	assert_hash(built, MULTI_HASH);
	ck_assert_uint_eq(built->info_len, mi->info_len);
	ck_assert_mem_eq(built->info, mi->info, mi->info_len);
	ck_assert_uint_eq(built->files[2].offset, 63456);
	/* Each tracker its own tier; the repeat is dropped. */
	ck_assert_uint_eq(built->tracker_count, 2);
	ck_assert_uint_eq(built->tiers[1], 1);

	buf_init(&b, 0);
	ck_assert_int_eq(metainfo_encode(built, &b), 0);
	ck_assert_int_eq(metainfo_parse(b.data, b.len, NULL, &again, err, sizeof(err)), 0);
	assert_hash(again, MULTI_HASH);
	ck_assert_uint_eq(again->tracker_count, 2);
	ck_assert_str_eq(again->trackers[0], "udp://a.example:1/announce");
	ck_assert_str_eq(again->trackers[1], "http://b.example/announce");
	ck_assert_uint_eq(again->tiers[0], 0);
	ck_assert_uint_eq(again->tiers[1], 1);
	ck_assert_str_eq(again->created_by, "p2pd test");
	ck_assert_int_eq(again->creation_date, 1700000000);
	ck_assert_int_eq(again->private_flag, 1);
	metainfo_free(again);
	buf_free(&b);
	metainfo_free(built);
	metainfo_free(mi);
	free(p);
}
END_TEST

START_TEST(test_build_single)
{
	static const struct mi_build_file file = { "ignored/for/single", 20000 };
	uint8_t pieces[40] = { 0 };
	struct metainfo *mi;
	struct mi_build in;
	struct buf b;
	char err[160];

	memset(&in, 0, sizeof(in));
	in.name = "one.bin";
	in.files = &file;
	in.file_count = 1;
	in.piece_length = 16384;
	in.pieces = pieces;
	in.piece_count = 2;
	ck_assert_msg(metainfo_build(&in, &mi, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(mi->files[0].path, "one.bin");
	ck_assert_int_eq(mi->private_flag, 0);
	ck_assert_uint_eq(mi->tracker_count, 0);
	ck_assert_ptr_null(mi->created_by);
	ck_assert_uint_eq(metainfo_piece_size(mi, 1), 20000 - 16384);
	buf_init(&b, 0);
	ck_assert_int_eq(metainfo_encode(mi, &b), 0);
	ck_assert_uint_eq(b.len, 8 + mi->info_len);	/* "d4:info" ... "e" */
	buf_free(&b);
	metainfo_free(mi);

	/* The same checks as parsing: a piece too few, or an unsafe name. */
	in.piece_count = 1;
	ck_assert_int_eq(metainfo_build(&in, &mi, err, sizeof(err)), -1);
	ck_assert_ptr_null(mi);
	in.piece_count = 2;
	in.name = "..";
	ck_assert_int_eq(metainfo_build(&in, &mi, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "name"));
}
END_TEST

START_TEST(test_build_bad_paths)
{
	static const char *const paths[] = { "../x", "a/../b", "/etc/passwd", "a//b",
	    "a/", "./a", "a\\b", "a\nb", "" };
	uint8_t pieces[20] = { 0 };
	struct mi_build_file f;
	struct metainfo *mi;
	struct mi_build in;
	char err[160];

	memset(&in, 0, sizeof(in));
	in.name = "dir";
	in.multi_file = 1;
	in.files = &f;
	in.file_count = 1;
	in.piece_length = 16384;
	in.pieces = pieces;
	in.piece_count = 1;
	f.length = 10;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		f.path = paths[i];
		ck_assert_msg(metainfo_build(&in, &mi, err, sizeof(err)) == -1,
		    "built with path '%s'", paths[i]);
	}
	f.path = "ok/file";
	ck_assert_int_eq(metainfo_build(&in, &mi, err, sizeof(err)), 0);
	ck_assert_str_eq(mi->files[0].path, "ok/file");
	metainfo_free(mi);
}
END_TEST

struct sample {
	const char *s;
	size_t len;
	const char *why;	/* a word the error must contain */
};

#define T(x, why) { x, sizeof(x) - 1, why }

/* Bare info dicts that must be refused. */
static const struct sample bad_info[] = {
	T(MULTI("2:.."), "unsafe"),
	T(MULTI("1:a2:..1:b"), "unsafe"),
	T(MULTI("1:."), "unsafe"),
	T(MULTI("0:"), "unsafe"),
	T(MULTI("1:a0:"), "unsafe"),
	T(MULTI("0:3:etc"), "unsafe"),
	T(MULTI("4:/etc"), "unsafe"),
	T(MULTI("3:a/b"), "unsafe"),
	T(MULTI("3:a\\b"), "unsafe"),
	T(MULTI("3:a\0b"), "unsafe"),
	T(MULTI("3:a\nb"), "unsafe"),
	T(MULTI("1:\x01"), "unsafe"),
	T(MULTI("1:\x1f"), "unsafe"),
	T(MULTI("2:a\x7f"), "unsafe"),
	T(MULTI(""), "empty file path"),
	T(MULTI("i1e"), "not a string"),
	T(SINGLE("2:.."), "name"),
	T(SINGLE("1:."), "name"),
	T(SINGLE("0:"), "name"),
	T(SINGLE("4:/etc"), "name"),
	T(SINGLE("3:a/b"), "name"),
	T(SINGLE("3:a\0b"), "name"),
	T(SINGLE("3:a\tb"), "name"),
	T(SINGLE("i1e"), "name"),
	T("d6:lengthi1e" TAIL "e", "name"),
	T("d6:lengthi1e4:name1:a12:piece lengthi16385e6:pieces20:" PIECE "e", "power of two"),
	T("d6:lengthi1e4:name1:a12:piece lengthi8192e6:pieces20:" PIECE "e", "power of two"),
	T("d6:lengthi1e4:name1:a12:piece lengthi134217728e6:pieces20:" PIECE "e",
	    "power of two"),
	T("d6:lengthi1e4:name1:a12:piece lengthi-16384e6:pieces20:" PIECE "e",
	    "power of two"),
	T("d6:lengthi1e4:name1:a12:piece length5:16384" "6:pieces20:" PIECE "e",
	    "piece length"),
	T("d6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces19:AAAAAAAAAAAAAAAAAAAe",
	    "multiple of 20"),
	T("d6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces0:e", "multiple of 20"),
	T("d6:lengthi1e4:name1:a12:piece lengthi16384ee", "pieces"),
	T("d6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces40:" PIECE PIECE "e",
	    "pieces given"),
	T("d6:lengthi16385e4:name1:a" TAIL "e", "pieces given"),
	T("d6:lengthi0e4:name1:a" TAIL "e", "zero"),
	T("d6:lengthi-1e4:name1:a" TAIL "e", "negative"),
	T("d6:length1:14:name1:a" TAIL "e", "length"),
	T("d4:name1:a" TAIL "e", "length"),
	T("d5:filesle6:lengthi1e4:name1:a" TAIL "e", "both"),
	T("d5:filesle4:name1:a" TAIL "e", "empty"),
	T("d5:filesli1ee4:name1:a" TAIL "e", "not a dict"),
	T("d5:filesld4:pathl1:aeee4:name1:a" TAIL "e", "length"),
	T("d5:filesld6:lengthi1eee4:name1:a" TAIL "e", "path"),
	T("d5:filesld6:lengthi1e4:path1:aee4:name1:a" TAIL "e", "path"),
	T("d5:filesld6:lengthi-5e4:pathl1:aeee4:name1:a" TAIL "e", "negative"),
	T("d5:filesld6:lengthi9223372036854775807e4:pathl1:aeed6:lengthi1e4:pathl1:beee"
	    "4:name1:a" TAIL "e", "overflow"),
	T("d5:filesld6:lengthi1e4:pathl1:aeed6:lengthi0e4:pathl1:aeee4:name1:d" TAIL "e",
	    "duplicate"),
	T("d5:filesld6:lengthi1e4:pathl1:aeed6:lengthi0e4:pathl1:a1:beee4:name1:d" TAIL "e",
	    "directory"),
	T("d5:filesld6:lengthi0e4:pathl1:a1:b1:ceed6:lengthi0e4:pathl1:a2:b.eed6:lengthi1e"
	    "4:pathl1:a1:beee4:name1:d" TAIL "e", "directory"),
	T("d6:lengthi1e4:name1:a" TAIL "7:private1:1e", "private"),
	T("d4:name1:a6:lengthi1e" TAIL "e", "not sorted"),
	T("d6:lengthi1e4:name1:a" TAIL, "truncated"),
	T("d6:lengthi1e4:name1:a" TAIL "ee", "trailing"),
	T("li1ee", "not a dict"),
	T("", "empty"),
};

START_TEST(test_bad_info)
{
	const struct sample *x = &bad_info[_i];
	struct metainfo *mi = (struct metainfo *)1;
	char err[160] = "";

	ck_assert_msg(metainfo_parse_info((const uint8_t *)x->s, x->len, NULL, &mi,
	    err, sizeof(err)) == -1, "#%d accepted: %s", _i, x->s);
	ck_assert_ptr_null(mi);
	ck_assert_msg(strstr(err, x->why) != NULL, "#%d: '%s' lacks '%s'", _i, err, x->why);
}
END_TEST

/* Bare info dicts that are fine, with what they must yield. */
static const struct {
	const char *s;
	size_t nfiles;
	uint64_t total;
	int private_flag;
} good_info[] = {
	{ SINGLE("5:a.txt"), 1, 1, 0 },
	{ SINGLE("3:a b"), 1, 1, 0 },
	{ SINGLE("5:\xc3\xa9t\xc3\xa9"), 1, 1, 0 },
	{ SINGLE("3:..a"), 1, 1, 0 },
	{ MULTI("1:a1:b1:c"), 1, 1, 0 },
	{ "d6:lengthi1e4:name1:a" TAIL "7:privatei1ee", 1, 1, 1 },
	{ "d6:lengthi1e4:name1:a" TAIL "7:privatei0ee", 1, 1, 0 },
	{ "d6:lengthi16384e4:name1:a" TAIL "e", 1, 16384, 0 },
	{ "d5:filesld6:lengthi0e4:pathl1:zeed6:lengthi5e4:pathl1:aeed6:lengthi0e"
	    "4:pathl1:yeee4:name1:d" TAIL "e", 3, 5, 0 },
	{ "d5:filesld6:lengthi1e4:pathl1:aeed6:lengthi1e4:pathl2:a.eee4:name1:d" TAIL "e",
	    2, 2, 0 },
	{ "d4:infoi1e6:lengthi1e4:name1:a" TAIL "e", 1, 1, 0 },
};

START_TEST(test_good_info)
{
	struct metainfo *mi;
	uint8_t h[20];
	char err[160];
	const char *s = good_info[_i].s;

	ck_assert_msg(metainfo_parse_info((const uint8_t *)s, strlen(s), NULL, &mi,
	    err, sizeof(err)) == 0, "#%d: %s", _i, err);
	ck_assert_uint_eq(mi->file_count, good_info[_i].nfiles);
	ck_assert_uint_eq(mi->total_length, good_info[_i].total);
	ck_assert_int_eq(mi->private_flag, good_info[_i].private_flag);
	sha1(s, strlen(s), h);
	ck_assert_mem_eq(mi->info_hash, h, 20);
	ck_assert_uint_eq(mi->info_len, strlen(s));
	metainfo_free(mi);
}
END_TEST

static char *
long_component(size_t n)
{
	char *s = malloc(n + 1);

	memset(s, 'x', n);
	s[n] = '\0';
	return s;
}

/* An info dict with one file whose path has ncomp components of clen bytes. */
static int
parse_path(size_t ncomp, size_t clen, char *err, size_t errlen)
{
	char *c = long_component(clen);
	struct metainfo *mi;
	struct buf b;
	int rc;

	buf_init(&b, 0);
	buf_puts(&b, "d5:filesld6:lengthi1e4:pathl");
	for (size_t i = 0; i < ncomp; i++)
		be_put_cstr(&b, c);
	buf_puts(&b, "eee4:name1:d" TAIL "e");
	rc = metainfo_parse_info(b.data, b.len, NULL, &mi, err, errlen);
	metainfo_free(mi);
	buf_free(&b);
	free(c);
	return rc;
}

START_TEST(test_path_lengths)
{
	char err[160];

	ck_assert_int_eq(parse_path(1, 255, err, sizeof(err)), 0);
	ck_assert_int_eq(parse_path(1, 256, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "unsafe"));
	/* 16 * 255 + 15 separators = 4095 bytes; one more component passes 4096. */
	ck_assert_int_eq(parse_path(16, 255, err, sizeof(err)), 0);
	ck_assert_int_eq(parse_path(17, 255, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "longer than 4096"));
	ck_assert_int_eq(parse_path(2048, 1, err, sizeof(err)), 0);
	ck_assert_int_eq(parse_path(2049, 1, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_component_ok)
{
	ck_assert_int_eq(metainfo_component_ok("a", 1), 1);
	ck_assert_int_eq(metainfo_component_ok("...", 3), 1);
	ck_assert_int_eq(metainfo_component_ok(".hidden", 7), 1);
	ck_assert_int_eq(metainfo_component_ok("..", 2), 0);
	ck_assert_int_eq(metainfo_component_ok(".", 1), 0);
	ck_assert_int_eq(metainfo_component_ok("", 0), 0);
	ck_assert_int_eq(metainfo_component_ok("a/b", 3), 0);
	ck_assert_int_eq(metainfo_component_ok("a\\b", 3), 0);
	ck_assert_int_eq(metainfo_component_ok("a\0b", 3), 0);
	ck_assert_int_eq(metainfo_component_ok("\x7f", 1), 0);
	ck_assert_int_eq(metainfo_component_ok("\r", 1), 0);
	/* Only len bytes count: the NUL terminator is outside. */
	ck_assert_int_eq(metainfo_component_ok("ab", 1), 1);
}
END_TEST

static struct metainfo *
parse_str(const char *s, const struct mi_limits *lim, char *err, size_t errlen)
{
	struct metainfo *mi = NULL;

	if (metainfo_parse((const uint8_t *)s, strlen(s), lim, &mi, err, errlen) == -1)
		return NULL;
	return mi;
}

#define INFO "4:info" SINGLE("1:a")

START_TEST(test_announce_tiers)
{
	struct metainfo *mi;
	char err[160];

	/* announce-list tiers win; repeats and empty tiers vanish; announce is kept last. */
	mi = parse_str("d8:announce1:Z13:announce-listll1:A1:Bel1:B1:Cel0:el1:Deli7eel1:Aee"
	    INFO "e", NULL, err, sizeof(err));
	ck_assert_msg(mi != NULL, "%s", err);
	ck_assert_uint_eq(mi->tracker_count, 5);
	ck_assert_str_eq(mi->trackers[0], "A");
	ck_assert_str_eq(mi->trackers[1], "B");
	ck_assert_str_eq(mi->trackers[2], "C");
	ck_assert_str_eq(mi->trackers[3], "D");
	ck_assert_str_eq(mi->trackers[4], "Z");
	ck_assert_uint_eq(mi->tiers[0], 0);
	ck_assert_uint_eq(mi->tiers[1], 0);
	ck_assert_uint_eq(mi->tiers[2], 1);
	ck_assert_uint_eq(mi->tiers[3], 2);
	ck_assert_uint_eq(mi->tiers[4], 3);
	metainfo_free(mi);

	/* announce already listed: not repeated. */
	mi = parse_str("d8:announce1:B13:announce-listll1:Ael1:Bee" INFO "e", NULL, err,
	    sizeof(err));
	ck_assert_ptr_nonnull(mi);
	ck_assert_uint_eq(mi->tracker_count, 2);
	ck_assert_uint_eq(mi->tiers[1], 1);
	metainfo_free(mi);

	/* Only announce; control characters make a URL unusable, not the torrent. */
	mi = parse_str("d8:announce3:u\nl" INFO "e", NULL, err, sizeof(err));
	ck_assert_ptr_nonnull(mi);
	ck_assert_uint_eq(mi->tracker_count, 0);
	metainfo_free(mi);
	mi = parse_str("d8:announce5:http:" INFO "e", NULL, err, sizeof(err));
	ck_assert_uint_eq(mi->tracker_count, 1);
	ck_assert_uint_eq(mi->tiers[0], 0);
	metainfo_free(mi);
}
END_TEST

START_TEST(test_top_level)
{
	struct mi_limits small = { 10, 20 };
	struct metainfo *mi;
	char err[160];

	ck_assert_ptr_null(parse_str("de", NULL, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "info"));
	ck_assert_ptr_null(parse_str("d4:infoi1ee", NULL, err, sizeof(err)));
	ck_assert_ptr_null(parse_str("le", NULL, err, sizeof(err)));
	ck_assert_ptr_null(parse_str("d" INFO "e", &small, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "limit"));
	/* A comment with a NUL is dropped, not truncated. */
	{
		static const char t[] = "d7:comment3:a\0b13:creation datei5e" INFO "e";

		ck_assert_int_eq(metainfo_parse((const uint8_t *)t, sizeof(t) - 1, NULL, &mi,
		    err, sizeof(err)), 0);
		ck_assert_ptr_null(mi->comment);
		ck_assert_int_eq(mi->creation_date, 5);
		metainfo_free(mi);
	}
}
END_TEST

START_TEST(test_max_files)
{
	static const char three[] = "d5:filesld6:lengthi1e4:pathl1:aeed6:lengthi1e"
	    "4:pathl1:beed6:lengthi1e4:pathl1:ceee4:name1:d" TAIL "e";
	struct mi_limits two = { 2, MI_DEFAULT_MAX_SIZE };
	struct mi_limits lim3 = { 3, MI_DEFAULT_MAX_SIZE };
	struct metainfo *mi;
	char err[160];

	ck_assert_int_eq(metainfo_parse_info((const uint8_t *)three, sizeof(three) - 1,
	    &two, &mi, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "limit"));
	ck_assert_int_eq(metainfo_parse_info((const uint8_t *)three, sizeof(three) - 1,
	    &lim3, &mi, err, sizeof(err)), 0);
	ck_assert_uint_eq(mi->files[2].offset, 2);
	metainfo_free(mi);
}
END_TEST

/* Zero-length files share an offset with their successor and hold no byte. */
START_TEST(test_file_at)
{
	static const char s[] = "d5:filesld6:lengthi0e4:pathl1:aeed6:lengthi10e4:pathl1:b"
	    "eed6:lengthi0e4:pathl1:ceed6:lengthi0e4:pathl1:deed6:lengthi5e4:pathl1:eeed6:"
	    "lengthi0e4:pathl1:feee4:name1:r" TAIL "e";
	static const struct { uint64_t off; int64_t file; } at[] = {
		{ 0, 1 }, { 9, 1 }, { 10, 4 }, { 14, 4 }, { 15, -1 }, { UINT64_MAX, -1 },
	};
	struct metainfo *mi;
	char err[160];

	ck_assert_msg(metainfo_parse_info((const uint8_t *)s, sizeof(s) - 1, NULL, &mi,
	    err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(mi->file_count, 6);
	ck_assert_uint_eq(mi->total_length, 15);
	ck_assert_uint_eq(mi->files[5].offset, 15);
	ck_assert_uint_eq(mi->files[4].offset, 10);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		ck_assert_int_eq(metainfo_file_at(mi, at[i].off), at[i].file);
	metainfo_free(mi);
}
END_TEST

static const struct {
	uint64_t total;
	uint32_t want;
} auto_pl[] = {
	{ 0, 16 << 10 },
	{ 1, 16 << 10 },
	{ 1 << 20, 16 << 10 },
	{ 100ull << 20, 64 << 10 },
	{ 1ull << 30, 1 << 20 },
	{ 4ull << 30, 4 << 20 },
	{ 1ull << 40, 16 << 20 },
	{ UINT64_MAX / 2, 16 << 20 },
};

START_TEST(test_auto_piece_length)
{
	ck_assert_uint_eq(metainfo_auto_piece_length(auto_pl[_i].total), auto_pl[_i].want);
}
END_TEST

START_TEST(test_auto_piece_length_range)
{
	for (uint64_t total = 1; total < (1ull << 42); total = total * 3 + 7) {
		uint32_t pl = metainfo_auto_piece_length(total);
		uint64_t n = (total + pl - 1) / pl;

		ck_assert_uint_eq(pl & (pl - 1), 0);
		ck_assert_uint_ge(pl, 16 << 10);
		ck_assert_uint_le(pl, 16 << 20);
		if (pl < (16u << 20))
			ck_assert_uint_le(n, 2000);
		if (pl > (16u << 10))
			ck_assert_uint_gt(n, 1000);
	}
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("metainfo");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_fixture_multi);
	tcase_add_test(tc, test_fixture_single);
	tcase_add_test(tc, test_encode_fixture);
	tcase_add_test(tc, test_build_matches_fixture);
	tcase_add_test(tc, test_build_single);
	tcase_add_test(tc, test_build_bad_paths);
	tcase_add_loop_test(tc, test_bad_info, 0, sizeof(bad_info) / sizeof(bad_info[0]));
	tcase_add_loop_test(tc, test_good_info, 0, sizeof(good_info) / sizeof(good_info[0]));
	tcase_add_test(tc, test_path_lengths);
	tcase_add_test(tc, test_component_ok);
	tcase_add_test(tc, test_announce_tiers);
	tcase_add_test(tc, test_top_level);
	tcase_add_test(tc, test_max_files);
	tcase_add_test(tc, test_file_at);
	tcase_add_loop_test(tc, test_auto_piece_length, 0,
	    sizeof(auto_pl) / sizeof(auto_pl[0]));
	tcase_add_test(tc, test_auto_piece_length_range);
	suite_add_tcase(s, tc);
	return s;
}
