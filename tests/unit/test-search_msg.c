/* test-search_msg.c: unit tests for the p2p_search codec and word normalisation (common/search_msg.c). */
#include "testmain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "search_msg.h"
#include "sha.h"

#define M(x) (const uint8_t *)(x), sizeof(x) - 1

/* A heap copy of exactly len bytes, so ASan catches any read past the end. */
static uint8_t *
exact_copy(const uint8_t *p, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(c);
	if (len)
		memcpy(c, p, len);
	return c;
}

static struct search_msg msg, msg2;	/* 14 KiB each */

static int
parse(const uint8_t *p, size_t len, struct search_msg *m, char *err, size_t errlen)
{
	uint8_t *c = exact_copy(p, len);
	int rc;

	err[0] = '\0';
	rc = search_msg_parse(c, len, m, err, errlen);
	free(c);
	return rc;
}

/* search_normalise into a static buffer, for table comparisons. */
static const char *
norm(const char *text)
{
	static char out[1024];

	ck_assert_int_ge(search_normalise(text, 100, out, sizeof(out)), 0);
	return out;
}

struct norm_case {
	const char *in, *out;
};

static const struct norm_case norm_cases[] = {
	{ "Big.Buck_Bunny-1080p.mkv", "big buck bunny 1080p mkv" },
	{ "  HELLO   World  ", "hello world" },
	{ "", "" },
	{ "...---___", "" },
	{ "a,b;c:d/e\\f|g(h)i[j]k{l}m'n\"o!p?q&r+s=t*u#v@w$x%y^z~`<>",
	    "a b c d e f g h i j k l m n o p q r s t u v w x y z" },
	{ "Café Crème Brûlée", "cafe creme brulee" },
	{ "ÀÁÂÃÄÅ àáâãäå Çç ÈÉÊË ÌÍÎÏ Ññ ÒÓÔÕÖ ÙÚÛÜ Ýýÿ",
	    "aaaaaa aaaaaa cc eeee iiii nn ooooo uuuu yyy" },
	{ "Straße STRASSE", "strasse strasse" },
	{ "Bjørn Ærø Œuvre Þór Ðóra", "bjorn aero oeuvre thor dora" },
	{ "Łódź Kraków Dvořák Šťastný Žižek Ĳssel ſ", "lodz krakow dvorak stastny zizek ijssel s" },
	{ "Ősz Ĝis Ħal İstanbul ı", "osz gis hal istanbul i" },
	{ "2×3 4÷2", "2 3 4 2" },
	/* NFD (macOS file names): combining marks vanish inside the word. */
	{ "e\xcc\x81te\xcc\x81 Cafe\xcc\x81", "ete cafe" },
	/* Invalid UTF-8 separates: a lone continuation, an overlong '/', a surrogate, F5. */
	{ "ab\x80" "cd", "ab cd" },
	{ "ab\xc0\xaf" "cd", "ab cd" },
	{ "ab\xed\xa0\x80" "cd", "ab cd" },
	{ "ab\xf5\x80\x80\x80" "cd", "ab cd" },
	{ "ab\xc3", "ab" },		/* truncated sequence at the end */
	{ "\xc3\xa9\xc3", "e" },
	/* Other scripts: kept, with simple case folding for Greek and Cyrillic. */
	{ "Привет МИР Ёж", "привет мир ёж" },
	{ "ΣΟΦΙΑ σοφίας", "σοφια σοφίασ" },
	{ "東京 タワー", "東京 タワー" },
	/* Punctuation and symbols beyond ASCII separate. */
	{ "a\xc2\xa0" "b c\xe2\x80\x94" "d e\xe2\x84\xa2 f\xf0\x9f\x8e\xac" "g", "a b c d e f g" },
	{ "\xef\xbb\xbf" "bom", "bom" },
	{ "\xe3\x80\x8c" "x" "\xe3\x80\x8d", "x" },
	{ "tab\tnew\nline\x7f" "del", "tab new line del" },
};

START_TEST(test_normalise_table)
{
	const struct norm_case *c = &norm_cases[_i];

	ck_assert_msg(strcmp(norm(c->in), c->out) == 0, "norm[%d] '%s' -> '%s', want '%s'",
	    _i, c->in, norm(c->in), c->out);
	/* Normalising normalised text changes nothing. */
	ck_assert_str_eq(norm(c->out), c->out);
}
END_TEST

START_TEST(test_words)
{
	char w[SEARCH_MAX_WORDS][SEARCH_WORD_MAX + 1], out[64];
	char longw[200];

	ck_assert_uint_eq(search_words("one two one three", w, SEARCH_MAX_WORDS), 4);
	ck_assert_str_eq(w[0], "one");
	ck_assert_str_eq(w[2], "one");	/* duplicates kept in order */
	ck_assert_str_eq(w[3], "three");
	ck_assert_uint_eq(search_words("a b c d e f g h i j", w, 3), 3);
	ck_assert_str_eq(w[2], "c");
	ck_assert_uint_eq(search_words("a b", w, 0), 0);
	ck_assert_uint_eq(search_words(NULL, w, 2), 0);

	/* A long word is cut at 64 bytes; the rest of it does not become a word. */
	memset(longw, 'A', 100);
	strcpy(longw + 100, " next");
	ck_assert_uint_eq(search_words(longw, w, SEARCH_MAX_WORDS), 2);
	ck_assert_uint_eq(strlen(w[0]), SEARCH_WORD_MAX);
	ck_assert_str_eq(w[1], "next");
	/* Cut at a character boundary: 2-byte letters, 64 bytes hold 32. */
	longw[0] = '\0';
	for (int i = 0; i < 40; i++)
		strcat(longw, "\xd0\x96");	/* Ж -> ж */
	ck_assert_uint_eq(search_words(longw, w, 1), 1);
	ck_assert_uint_eq(strlen(w[0]), 64);
	ck_assert_str_eq(w[0] + 62, "\xd0\xb6");
	/* 3-byte letters: 21 fit in 63 bytes, the 22nd would pass 64. */
	longw[0] = '\0';
	for (int i = 0; i < 30; i++)
		strcat(longw, "\xe6\x9d\xb1");
	ck_assert_uint_eq(search_words(longw, w, 1), 1);
	ck_assert_uint_eq(strlen(w[0]), 63);
	/* ß folds to two letters: 63 'a' + ß is cut before it ("ss" does not fit). */
	memset(longw, 'a', 63);
	strcpy(longw + 63, "\xc3\x9f");
	ck_assert_uint_eq(search_words(longw, w, 1), 1);
	ck_assert_uint_eq(strlen(w[0]), 63);

	/* search_normalise: count, out too small. */
	ck_assert_int_eq(search_normalise("Big Buck", 8, out, sizeof(out)), 2);
	ck_assert_str_eq(out, "big buck");
	ck_assert_int_eq(search_normalise("Big Buck", 1, out, sizeof(out)), 1);
	ck_assert_str_eq(out, "big");
	ck_assert_int_eq(search_normalise("Big Buck", 8, out, 8), -1);
	ck_assert_int_eq(search_normalise("Big Buck", 8, out, 9), 2);
	ck_assert_int_eq(search_normalise("...", 8, out, 1), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(search_normalise("x", 8, out, 0), -1);
}
END_TEST

START_TEST(test_distinctive)
{
	static const char *const yes[] = { "bunny", "ubuntu", "big", "abc", "s01x",
	    "e01a", "x266a", "matrix", "1999a", "ж\xd0\xb6\xd0\xb6", "東京タ",
	    "ete", "pxp", "x10a", "h2o", "mp3a" };
	static const char *const no[] = { "", "ab", "東京", "жж", "1999", "0000000",
	    "the", "and", "for", "with", "from", "this", "that", "you", "are", "www",
	    "com", "org", "net", "720p", "1080p", "2160p", "x264", "x265", "hevc", "web",
	    "dl", "bluray", "hdtv", "rip", "webrip", "mkv", "mp4", "avi", "mp3", "flac",
	    "ogg", "iso", "zip", "rar", "tar", "gz", "txt", "pdf", "epub", "jpg", "png",
	    "exe", "deb", "rpm", "s01", "s01e02", "e05", "s2024e100", "1x05", "12x123",
	    "1440p", "10bit", "12bit", "aac2", "ddp5", "dd2", "dts6", "h266",
	    "x10", "dvd9", "flac24", "eac3", "hdr10" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(search_word_distinctive(yes[i]) == 1, "'%s' not distinctive",
		    yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(search_word_distinctive(no[i]) == 0, "'%s' distinctive", no[i]);
	ck_assert_int_eq(search_word_distinctive(NULL), 0);
}
END_TEST

struct kw_case {
	const char *name;
	const char *want;	/* the keywords joined with spaces */
};

static const struct kw_case kw_cases[] = {
	{ "Big.Buck.Bunny.2008.1080p.BluRay.x264-GROUP.mkv", "bunny group buck big" },
	{ "ubuntu-24.04.1-desktop-amd64.iso", "desktop ubuntu amd64" },
	{ "The.Matrix.1999.REMASTERED.1080p.BluRay.x265.10bit-XYZ", "matrix xyz" },
	{ "Breaking.Bad.S01E02.720p.WEB-DL.AAC2.0.H.264", "breaking bad" },
	{ "Die Ärzte - Die Bestie in Menschengestalt (1993) [FLAC]",
	    "menschengestalt bestie arzte die" },
	{ "debian-12.5.0-amd64-netinst.iso", "netinst debian amd64" },
	/* More than 8: the longest 8, ties in order of appearance, no duplicates. */
	{ "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda alpha omicron",
	    "epsilon omicron lambda alpha gamma delta theta kappa" },
	{ "", "" },
	{ "the and for 1080p mkv", "" },
	{ "Ólafur Arnalds - Living Room Songs", "arnalds olafur living songs room" },
};

START_TEST(test_keywords)
{
	const struct kw_case *c = &kw_cases[_i];
	char kw[SEARCH_MAX_KEYWORDS][SEARCH_WORD_MAX + 1], got[1024] = "";
	size_t n = search_name_keywords(c->name, kw, SEARCH_MAX_KEYWORDS);

	ck_assert_uint_le(n, SEARCH_MAX_KEYWORDS);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strcat(got, " ");
		strcat(got, kw[i]);
	}
	ck_assert_msg(strcmp(got, c->want) == 0, "kw[%d] '%s': got '%s', want '%s'", _i,
	    c->name, got, c->want);
}
END_TEST

START_TEST(test_keywords_max)
{
	char kw[3][SEARCH_WORD_MAX + 1];

	ck_assert_uint_eq(search_name_keywords("aaa bbbb ccccc dddddd eee", kw, 2), 2);
	ck_assert_str_eq(kw[0], "dddddd");
	ck_assert_str_eq(kw[1], "ccccc");
	ck_assert_uint_eq(search_name_keywords("aaa bbbb ccccc dddddd eee", kw, 0), 0);
	/* A word evicted cannot come back as a later duplicate. */
	ck_assert_uint_eq(search_name_keywords("abc xyzw mnop abc", kw, 2), 2);
	ck_assert_str_eq(kw[0], "xyzw");
	ck_assert_str_eq(kw[1], "mnop");
	/* Length is in characters: "ééé" (3) after "abcd" (4), though 6 bytes. */
	ck_assert_uint_eq(search_name_keywords("жжж abcd", kw, 3), 2);
	ck_assert_str_eq(kw[0], "abcd");
}
END_TEST

START_TEST(test_key)
{
	/*
	 * Vectors from Python:
	 *   hashlib.sha1(b"p2pd-search-v1:" + w.encode()).hexdigest()
	 * bunny   8502145752d6f28b3e59afae1fc6218b5b4b96f9
	 * big     326adf790b8e53065f2fbba44271431903f84204
	 * strasse 84b344ec7b85d963e07a14219923ffac86575c48
	 * ""      a33bfaded3cdf1a56409634ec29aaaff6ddfd11e
	 */
	static const struct {
		const char *w, *hex;
	} v[] = {
		{ "bunny", "8502145752d6f28b3e59afae1fc6218b5b4b96f9" },
		{ "big", "326adf790b8e53065f2fbba44271431903f84204" },
		{ "strasse", "84b344ec7b85d963e07a14219923ffac86575c48" },
		{ "", "a33bfaded3cdf1a56409634ec29aaaff6ddfd11e" },
	};
	char w[1][SEARCH_WORD_MAX + 1], hex[41];
	uint8_t key[20], key2[20];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		search_word_key(v[i].w, key);
		sha_hex(key, 20, hex);
		ck_assert_str_eq(hex, v[i].hex);
	}
	/* "Straße" and "STRASSE" announce under the same key. */
	ck_assert_uint_eq(search_words("Straße", w, 1), 1);
	search_word_key(w[0], key);
	sha_hex(key, 20, hex);
	ck_assert_str_eq(hex, "84b344ec7b85d963e07a14219923ffac86575c48");
	/* Longer than a word can be: hashed as its first 64 bytes. */
	{
		char longw[100];

		memset(longw, 'q', 99);
		longw[99] = '\0';
		search_word_key(longw, key);
		longw[64] = '\0';
		search_word_key(longw, key2);
		ck_assert_mem_eq(key, key2, 20);
	}
}
END_TEST

struct match_case {
	const char *name, *query;
	int matches, quality;
};

static const struct match_case match_cases[] = {
	{ "Big.Buck.Bunny.1080p.mkv", "bunny", 1, 1 },
	{ "Big.Buck.Bunny.1080p.mkv", "bun", 1, 0 },
	{ "Big.Buck.Bunny.1080p.mkv", "big bunny", 1, 1 },
	{ "Big.Buck.Bunny.1080p.mkv", "bunny big", 1, 1 },
	{ "Big.Buck.Bunny.1080p.mkv", "big bun", 1, 0 },
	{ "Big.Buck.Bunny.1080p.mkv", "big buck bunny 1080p mkv", 1, 2 },
	{ "Big Buck Bunny", "big buck bunny", 1, 2 },
	{ "Big Buck Bunny", "bunny buck big", 1, 1 },
	{ "Big Buck Bunny", "big buck", 1, 1 },
	{ "Big Buck Bunny", "big buck bunny bunny", 1, 1 },	/* 4 words vs 3: not exact */
	{ "Big Buck Bunny", "b b b", 1, 0 },
	{ "Big Buck Bunny", "bunnies", 0, 0 },
	{ "Big Buck Bunny", "big cat", 0, 0 },
	{ "Big Buck Bunny", "", 0, 0 },
	{ "Big Buck Bunny", "...", 0, 0 },
	{ "", "big", 0, 0 },
	{ "Bjørn Straße", "bjorn strasse", 1, 2 },
	{ "Bjørn Straße", "BJØRN", 1, 1 },
	{ "Bjørn Straße", "stras", 1, 0 },
	{ "ubuntu-24.04-desktop-amd64.iso", "ubuntu 24", 1, 1 },
	{ "ubuntu-24.04-desktop-amd64.iso", "ubuntu 2", 1, 0 },
	/* Nine words is more than a query may have: nothing matches. */
	{ "a b c d e f g h i", "a b c d e f g h i", 0, 0 },
	{ "a b c d e f g h", "a b c d e f g h", 1, 2 },
};

START_TEST(test_match)
{
	const struct match_case *c = &match_cases[_i];

	ck_assert_msg(search_name_matches(c->name, c->query) == c->matches,
	    "match[%d] '%s' ~ '%s'", _i, c->name, c->query);
	ck_assert_msg(search_match_quality(c->name, c->query) == c->quality,
	    "quality[%d] '%s' ~ '%s' = %d", _i, c->name, c->query,
	    search_match_quality(c->name, c->query));
}
END_TEST

START_TEST(test_sanitize)
{
	char out[SEARCH_MAX_NAME + 1], small[6], longn[600];

	ck_assert_int_eq(search_name_sanitize(out, sizeof(out), "a\tb\x01" "c\xff" "d/e"), 0);
	ck_assert_str_eq(out, "a b c?d/e");
	ck_assert_int_eq(search_name_sanitize(out, sizeof(out), ""), -1);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(search_name_sanitize(out, 0, "x"), -1);
	/* Cut at a character: "abcé" is 5 bytes, a 6-byte buffer holds it; "abcdé" not. */
	ck_assert_int_eq(search_name_sanitize(small, sizeof(small), "abcé"), 0);
	ck_assert_str_eq(small, "abcé");
	ck_assert_int_eq(search_name_sanitize(small, sizeof(small), "abcdé"), 0);
	ck_assert_str_eq(small, "abcd");
	/* Never past SEARCH_MAX_NAME, even with a larger buffer: 300 'é' -> 127. */
	longn[0] = '\0';
	for (int i = 0; i < 290; i++)
		strcat(longn, "é");
	{
		char big[600];

		ck_assert_int_eq(search_name_sanitize(big, sizeof(big), longn), 0);
		ck_assert_uint_eq(strlen(big), 254);
	}
}
END_TEST

/* Parse: good messages. */

START_TEST(test_parse_query)
{
	char err[160];

	ck_assert_int_eq(parse(M("d1:q14:big buck bunny1:ti1ee"), &msg, err, sizeof(err)), 0);
	ck_assert_int_eq(msg.type, SEARCH_MSG_QUERY);
	ck_assert_uint_eq(msg.id, 1);
	ck_assert_str_eq(msg.query, "big buck bunny");
	ck_assert_uint_eq(msg.nresults, 0);
	/* Returned normalised; unknown keys ignored; t at both ends of its range. */
	ck_assert_int_eq(parse(M("d1:q26:  Big.Buck_BUNNY-Straße  1:ti4294967295e"
	    "1:vli1eee"), &msg, err, sizeof(err)), 0);
	ck_assert_str_eq(msg.query, "big buck bunny strasse");
	ck_assert_uint_eq(msg.id, 4294967295u);
	ck_assert_int_eq(parse(M("d1:q1:x1:ti0ee"), &msg, err, sizeof(err)), 0);
	ck_assert_uint_eq(msg.id, 0);
	/* Eight words is the most. */
	ck_assert_int_eq(parse(M("d1:q15:a b c d e f g h1:ti0ee"), &msg, err, sizeof(err)),
	    0);
	ck_assert_str_eq(msg.query, "a b c d e f g h");
}
END_TEST

START_TEST(test_parse_results)
{
	char err[160];

	ck_assert_int_eq(parse(M("d1:rld1:fi3e1:h20:AAAAAAAAAAAAAAAAAAAA1:li12345e"
	    "1:n9:dir/a.mkve" "d1:fi1e1:h20:BBBBBBBBBBBBBBBBBBBB1:li0e1:n1:x1:zi0eee"
	    "1:ti77ee"), &msg, err, sizeof(err)), 0);
	ck_assert_int_eq(msg.type, SEARCH_MSG_RESULTS);
	ck_assert_uint_eq(msg.id, 77);
	ck_assert_uint_eq(msg.nresults, 2);
	ck_assert_mem_eq(msg.results[0].info_hash, "AAAAAAAAAAAAAAAAAAAA", 20);
	ck_assert_str_eq(msg.results[0].name, "dir/a.mkv");
	ck_assert_uint_eq(msg.results[0].size, 12345);
	ck_assert_uint_eq(msg.results[0].files, 3);
	ck_assert_str_eq(msg.results[1].name, "x");
	ck_assert_uint_eq(msg.results[1].size, 0);
	/* Nothing found is an answer too. */
	ck_assert_int_eq(parse(M("d1:rle1:ti5ee"), &msg, err, sizeof(err)), 0);
	ck_assert_int_eq(msg.type, SEARCH_MSG_RESULTS);
	ck_assert_uint_eq(msg.nresults, 0);
	/* The largest file count and size. */
	ck_assert_int_eq(parse(M("d1:rld1:fi1000000e1:h20:AAAAAAAAAAAAAAAAAAAA"
	    "1:li9223372036854775807e1:n2:\xc3\xa9" "ee1:ti5ee"), &msg, err, sizeof(err)), 0);
	ck_assert_uint_eq(msg.results[0].files, 1000000);
	ck_assert_uint_eq(msg.results[0].size, 9223372036854775807ull);
}
END_TEST

struct bad_case {
	const uint8_t *p;
	size_t len;
	const char *why;
};

#define R1(f, h, l, n) "d1:rl" "d1:f" f "1:h" h "1:l" l "1:n" n "e" "e1:ti1ee"
#define H20 "20:AAAAAAAAAAAAAAAAAAAA"

static const struct bad_case bad_cases[] = {
	{ M(""), "bencode" },
	{ M("d1:q1:x1:ti1e"), "bencode" },
	{ M("d1:q1:x1:ti1eeX"), "bencode" },
	{ M("d1:t1ei1:q1:xe"), "bencode" },
	{ M("le"), "not a dictionary" },
	{ M("i1e"), "not a dictionary" },
	{ M("1:x"), "not a dictionary" },
	{ M("d1:q1:x1:rle1:ti1ee"), "both q and r" },
	{ M("d1:ti1ee"), "neither q nor r" },
	{ M("de"), "neither q nor r" },
	{ M("d1:q1:xe"), "t missing" },
	{ M("d1:rlee"), "t missing" },
	{ M("d1:q1:x1:t1:1e"), "t is not an integer" },
	{ M("d1:q1:x1:ti-1ee"), "t -1 out of range" },
	{ M("d1:q1:x1:ti4294967296ee"), "t 4294967296 out of range" },
	{ M("d1:qi1e1:ti1ee"), "q is not a string" },
	{ M("d1:q0:1:ti1ee"), "q empty" },
	{ M("d1:q3:...1:ti1ee"), "q has no word" },
	{ M("d1:q17:a b c d e f g h i1:ti1ee"), "more than 8 words" },
	{ M("d1:q3:a\tb1:ti1ee"), "q: control character at byte 1" },
	{ M("d1:q3:a\0b1:ti1ee"), "q: control character" },
	{ M("d1:q3:a\xc2\x85" "1:ti1ee"), "q: control character" },	/* NEL, a C1 */
	{ M("d1:q3:ab\xff" "1:ti1ee"), "q: invalid UTF-8 at byte 2" },
	{ M("d1:q3:a\xc0\xaf" "1:ti1ee"), "q: invalid UTF-8" },	/* overlong */
	{ M("d1:q2:a\xc3" "1:ti1ee"), "q: invalid UTF-8" },	/* truncated */
	{ M("d1:ri1e1:ti1ee"), "r is not a list" },
	{ M("d1:rl1:xe1:ti1ee"), "result 0 is not a dictionary" },
	{ M(R1("i1e", H20, "i1e", "1:x") "junk"), "bencode" },
	{ M("d1:rld1:h" H20 "1:li1e1:n1:xee1:ti1ee"), "result 0: f missing" },
	{ M("d1:rld1:fi1e1:li1e1:n1:xee1:ti1ee"), "result 0: h missing" },
	{ M("d1:rld1:fi1e1:h" H20 "1:n1:xee1:ti1ee"), "result 0: l missing" },
	{ M("d1:rld1:fi1e1:h" H20 "1:li1eee1:ti1ee"), "result 0: n missing" },
	{ M(R1("1:1", H20, "i1e", "1:x")), "f is not an integer" },
	{ M(R1("i0e", H20, "i1e", "1:x")), "f 0 out of range" },
	{ M(R1("i-5e", H20, "i1e", "1:x")), "f -5 out of range" },
	{ M(R1("i1000001e", H20, "i1e", "1:x")), "f 1000001 out of range" },
	{ M(R1("i1e", "i1e", "i1e", "1:x")), "h is not a string" },
	{ M(R1("i1e", "19:AAAAAAAAAAAAAAAAAAA", "i1e", "1:x")), "h of 19 bytes, not 20" },
	{ M(R1("i1e", "21:AAAAAAAAAAAAAAAAAAAAA", "i1e", "1:x")), "h of 21 bytes" },
	{ M(R1("i1e", H20, "1:1", "1:x")), "l is not an integer" },
	{ M(R1("i1e", H20, "i-1e", "1:x")), "negative l -1" },
	{ M(R1("i1e", H20, "i1e", "i1e")), "n is not a string" },
	{ M(R1("i1e", H20, "i1e", "0:")), "n empty" },
	{ M(R1("i1e", H20, "i1e", "3:a\0b")), "n: control character at byte 1" },
	{ M(R1("i1e", H20, "i1e", "2:a\n")), "n: control character" },
	{ M(R1("i1e", H20, "i1e", "2:a\x7f")), "n: control character" },
	{ M(R1("i1e", H20, "i1e", "2:a\xfe")), "n: invalid UTF-8" },
	{ M(R1("i1e", H20, "i1e", "4:\xed\xa0\x80x")), "n: invalid UTF-8 at byte 0" },
	{ M(R1("i1e", H20, "i1e", "4:\xf4\x90\x80\x80")), "n: invalid UTF-8" },	/* > U+10FFFF */
	{ M("d1:rld1:fi1e1:h" H20 "1:li1e1:n1:aed1:fi2e1:h" H20 "1:li2e1:n1:bee1:ti1ee"),
	    "results 0 and 1 have the same info-hash" },
	/* Deep nesting in an unknown key passes the decoder's limit. */
	{ M("d1:q1:x1:ti1e1:zllllleeeeee"), "bencode" },
	{ M("d1:q1:x1:ti1e1:zi01ee"), "bencode" },
};

START_TEST(test_parse_bad)
{
	const struct bad_case *c = &bad_cases[_i];
	char err[160];

	ck_assert_msg(parse(c->p, c->len, &msg, err, sizeof(err)) == -1, "bad[%d] accepted",
	    _i);
	ck_assert_msg(strstr(err, c->why) != NULL, "bad[%d]: err '%s' lacks '%s'", _i, err,
	    c->why);
	ck_assert_msg(strncmp(err, "p2p_search: ", 12) == 0, "bad[%d]: err '%s'", _i, err);
	ck_assert_int_eq(msg.type, 0);
	ck_assert_uint_eq(msg.nresults, 0);
	ck_assert_str_eq(msg.query, "");
	/* NULL err is allowed. */
	ck_assert_int_eq(search_msg_parse(c->p, c->len, &msg, NULL, 0), -1);
}
END_TEST

/* Results i of n, each with a distinct hash and a name of namelen bytes. */
static void
fill_results(struct search_result *r, size_t n, size_t namelen)
{
	memset(r, 0, n * sizeof(*r));
	for (size_t i = 0; i < n; i++) {
		memset(r[i].info_hash, 0x11, 20);
		r[i].info_hash[0] = (uint8_t)i;
		r[i].info_hash[1] = (uint8_t)(i >> 8);
		memset(r[i].name, 'a' + (int)(i % 26), namelen);
		r[i].name[namelen] = '\0';
		r[i].size = (uint64_t)i * 1000003;
		r[i].files = (uint32_t)(i % 1000) + 1;
	}
}

START_TEST(test_parse_limits)
{
	static struct search_result r[SEARCH_MAX_RESULTS + 1];
	char err[160];
	uint8_t *big;
	struct buf b;

	/* 51 results: one too many, whatever their size. */
	fill_results(r, SEARCH_MAX_RESULTS + 1, 1);
	buf_init(&b, 0);
	ck_assert_int_eq(search_msg_build_results(&b, 1, r, SEARCH_MAX_RESULTS), 50);
	/* Splice a 51st into the list: drop "e1:ti1ee", append one more and the tail. */
	b.len -= strlen("e1:ti1ee");
	ck_assert_int_eq(buf_puts(&b, "d1:fi1e1:h20:ZZZZZZZZZZZZZZZZZZZZ1:li1e1:n1:ze"
	    "e1:ti1ee"), 0);
	ck_assert_int_eq(parse(b.data, b.len, &msg, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "51 results, over 50"));
	buf_free(&b);

	/* A name of 256 bytes. */
	buf_init(&b, 0);
	ck_assert_int_eq(buf_puts(&b, "d1:rld1:fi1e1:h" H20 "1:li1e1:n256:"), 0);
	for (int i = 0; i < 256; i++)
		ck_assert_int_eq(buf_putc(&b, 'n'), 0);
	ck_assert_int_eq(buf_puts(&b, "ee1:ti1ee"), 0);
	ck_assert_int_eq(parse(b.data, b.len, &msg, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "n of 256 bytes, over 255"));
	/* 255 is fine. */
	b.len = 0;
	ck_assert_int_eq(buf_puts(&b, "d1:rld1:fi1e1:h" H20 "1:li1e1:n255:"), 0);
	for (int i = 0; i < 255; i++)
		ck_assert_int_eq(buf_putc(&b, 'n'), 0);
	ck_assert_int_eq(buf_puts(&b, "ee1:ti1ee"), 0);
	ck_assert_int_eq(parse(b.data, b.len, &msg, err, sizeof(err)), 0);
	ck_assert_uint_eq(strlen(msg.results[0].name), 255);

	/* A query of 257 bytes (and 256, which is fine). */
	b.len = 0;
	ck_assert_int_eq(buf_puts(&b, "d1:q257:"), 0);
	for (int i = 0; i < 257; i++)
		ck_assert_int_eq(buf_putc(&b, i % 40 == 39 ? ' ' : 'q'), 0);
	ck_assert_int_eq(buf_puts(&b, "1:ti1ee"), 0);
	ck_assert_int_eq(parse(b.data, b.len, &msg, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "q of 257 bytes, over 256"));
	b.len = 0;
	ck_assert_int_eq(buf_puts(&b, "d1:q256:"), 0);
	for (int i = 0; i < 256; i++)
		ck_assert_int_eq(buf_putc(&b, i % 40 == 39 ? ' ' : 'q'), 0);
	ck_assert_int_eq(buf_puts(&b, "1:ti1ee"), 0);
	ck_assert_int_eq(parse(b.data, b.len, &msg, err, sizeof(err)), 0);
	/* Seven 39-letter words: already normalised, so unchanged. */
	ck_assert_uint_eq(strlen(msg.query), 256);
	buf_free(&b);

	/* Over SEARCH_MSG_MAX: refused before decoding, even if well-formed (22 + 16362 + 1). */
	big = malloc(SEARCH_MSG_MAX + 1);
	ck_assert_ptr_nonnull(big);
	memcpy(big, "d1:q1:x1:ti1e1:z16362:", 22);
	memset(big + 22, 'z', SEARCH_MSG_MAX + 1 - 23);
	big[SEARCH_MSG_MAX] = 'e';
	ck_assert_int_eq(parse(big, SEARCH_MSG_MAX + 1, &msg, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "16385 bytes, over 16384"));
	/* One byte shorter is within the cap (and valid: z is an unknown key). */
	memcpy(big, "d1:q1:x1:ti1e1:z16361:", 22);
	big[SEARCH_MSG_MAX - 1] = 'e';
	ck_assert_int_eq(parse(big, SEARCH_MSG_MAX, &msg, err, sizeof(err)), 0);
	free(big);
}
END_TEST

START_TEST(test_truncation)
{
	static struct search_result r[3];
	char err[160];
	struct buf b;

	/* Every proper prefix of a valid query or answer is refused, none over-read. */
	fill_results(r, 3, 20);
	strcpy(r[1].name, "Bjørn/Straße é");
	buf_init(&b, 0);
	ck_assert_int_eq(search_msg_build_results(&b, 123456, r, 3), 3);
	for (size_t n = 0; n < b.len; n++)
		ck_assert_msg(parse(b.data, n, &msg, err, sizeof(err)) == -1,
		    "answer prefix %zu accepted", n);
	ck_assert_int_eq(parse(b.data, b.len, &msg, err, sizeof(err)), 0);
	buf_reset(&b);
	ck_assert_int_eq(search_msg_build_query(&b, 9, "big buck bunny"), 0);
	for (size_t n = 0; n < b.len; n++)
		ck_assert_msg(parse(b.data, n, &msg, err, sizeof(err)) == -1,
		    "query prefix %zu accepted", n);
	buf_free(&b);
}
END_TEST

START_TEST(test_build_query)
{
	char err[160];
	struct buf b;

	buf_init(&b, 0);
	ck_assert_int_eq(search_msg_build_query(&b, 42, "Big.Buck_Bunny"), 0);
	ck_assert_uint_eq(b.len, strlen("d1:q14:big buck bunny1:ti42ee"));
	ck_assert_mem_eq(b.data, "d1:q14:big buck bunny1:ti42ee", b.len);
	ck_assert_int_eq(parse(b.data, b.len, &msg, err, sizeof(err)), 0);
	ck_assert_int_eq(msg.type, SEARCH_MSG_QUERY);
	ck_assert_uint_eq(msg.id, 42);
	ck_assert_str_eq(msg.query, "big buck bunny");
	buf_reset(&b);
	ck_assert_int_eq(search_msg_build_query(&b, UINT32_MAX, "Ærø"), 0);
	ck_assert_int_eq(parse(b.data, b.len, &msg, err, sizeof(err)), 0);
	ck_assert_uint_eq(msg.id, UINT32_MAX);
	ck_assert_str_eq(msg.query, "aero");

	/* Refusals leave b as it was. */
	buf_reset(&b);
	ck_assert_int_eq(buf_puts(&b, "keep"), 0);
	ck_assert_int_eq(search_msg_build_query(&b, 1, ""), -1);
	ck_assert_int_eq(search_msg_build_query(&b, 1, "-- ..."), -1);
	ck_assert_int_eq(search_msg_build_query(&b, 1, NULL), -1);
	ck_assert_int_eq(search_msg_build_query(&b, 1, "a b c d e f g h i"), -1);
	{
		/* Five 64-byte words: 324 bytes normalised, over SEARCH_MAX_QUERY. */
		char q[400];

		memset(q, 'w', sizeof(q));
		for (int i = 64; i < 400; i += 65)
			q[i] = ' ';
		q[324] = '\0';
		ck_assert_int_eq(search_msg_build_query(&b, 1, q), -1);
		q[259] = '\0';	/* four words, 259 bytes */
		ck_assert_int_eq(search_msg_build_query(&b, 1, q), -1);
		q[256] = '\0';	/* the fourth word cut short: 256 bytes */
		ck_assert_int_eq(search_msg_build_query(&b, 1, q), 0);
		ck_assert_int_eq(parse(b.data + 4, b.len - 4, &msg, err, sizeof(err)), 0);
		ck_assert_uint_eq(strlen(msg.query), 256);
		b.len = 4;
	}
	ck_assert_uint_eq(b.len, 4);
	buf_free(&b);
	/* A buffer limit mid-way leaves nothing half-written. */
	buf_init(&b, 10);
	ck_assert_int_eq(buf_puts(&b, "keep"), 0);
	ck_assert_int_eq(search_msg_build_query(&b, 1, "big buck bunny"), -1);
	ck_assert_uint_eq(b.len, 4);
	buf_free(&b);
}
END_TEST

static void
assert_results_equal(const struct search_result *r, const struct search_msg *m, size_t n)
{
	ck_assert_uint_eq(m->nresults, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_mem_eq(m->results[i].info_hash, r[i].info_hash, 20);
		ck_assert_str_eq(m->results[i].name, r[i].name);
		ck_assert_uint_eq(m->results[i].size, r[i].size);
		ck_assert_uint_eq(m->results[i].files, r[i].files);
	}
}

START_TEST(test_build_results)
{
	static struct search_result r[SEARCH_MAX_RESULTS + 5];
	char err[160];
	struct buf b;

	fill_results(r, 4, 10);
	strcpy(r[2].name, "東京/Ölstrøm");
	r[3].size = INT64_MAX;
	r[3].files = SEARCH_MAX_FILES;
	buf_init(&b, 0);
	ck_assert_int_eq(search_msg_build_results(&b, 5, r, 4), 4);
	ck_assert_int_eq(parse(b.data, b.len, &msg, err, sizeof(err)), 0);
	ck_assert_int_eq(msg.type, SEARCH_MSG_RESULTS);
	ck_assert_uint_eq(msg.id, 5);
	assert_results_equal(r, &msg, 4);
	buf_reset(&b);
	ck_assert_int_eq(search_msg_build_results(&b, 6, NULL, 0), 0);
	ck_assert_mem_eq(b.data, "d1:rle1:ti6ee", b.len);
	buf_reset(&b);

	/* More than 50 offered: the first 50 go. */
	fill_results(r, SEARCH_MAX_RESULTS + 5, 8);
	ck_assert_int_eq(search_msg_build_results(&b, 7, r, SEARCH_MAX_RESULTS + 5), 50);
	ck_assert_int_eq(parse(b.data, b.len, &msg, err, sizeof(err)), 0);
	assert_results_equal(r, &msg, 50);
	buf_reset(&b);

	/* What the parser would refuse is never sent: b stays as it was. */
	ck_assert_int_eq(buf_puts(&b, "keep"), 0);
	fill_results(r, 3, 8);
	r[1].name[0] = '\0';
	ck_assert_int_eq(search_msg_build_results(&b, 1, r, 3), -1);
	fill_results(r, 3, 8);
	r[2].name[3] = '\t';
	ck_assert_int_eq(search_msg_build_results(&b, 1, r, 3), -1);
	fill_results(r, 3, 8);
	r[2].name[3] = (char)0xff;
	ck_assert_int_eq(search_msg_build_results(&b, 1, r, 3), -1);
	fill_results(r, 3, 8);
	r[0].files = 0;
	ck_assert_int_eq(search_msg_build_results(&b, 1, r, 3), -1);
	r[0].files = SEARCH_MAX_FILES + 1;
	ck_assert_int_eq(search_msg_build_results(&b, 1, r, 3), -1);
	fill_results(r, 3, 8);
	r[1].size = (uint64_t)INT64_MAX + 1;
	ck_assert_int_eq(search_msg_build_results(&b, 1, r, 3), -1);
	fill_results(r, 3, 8);
	memcpy(r[2].info_hash, r[0].info_hash, 20);
	ck_assert_int_eq(search_msg_build_results(&b, 1, r, 3), -1);
	fill_results(r, 3, 8);
	memset(r[1].name, 'x', sizeof(r[1].name));	/* not NUL-terminated */
	ck_assert_int_eq(search_msg_build_results(&b, 1, r, 3), -1);
	ck_assert_int_eq(search_msg_build_results(&b, 1, NULL, 1), -1);
	ck_assert_uint_eq(b.len, 4);
	buf_free(&b);

	/* A buffer limit mid-way leaves nothing half-written. */
	buf_init(&b, 100);
	ck_assert_int_eq(buf_puts(&b, "keep"), 0);
	fill_results(r, 3, 8);
	ck_assert_int_eq(search_msg_build_results(&b, 1, r, 3), -1);
	ck_assert_uint_eq(b.len, 4);
	buf_free(&b);
}
END_TEST

START_TEST(test_size_cap)
{
	static struct search_result r[SEARCH_MAX_RESULTS];
	char err[160];
	struct buf b;
	int n;

	/*
	 * The worst case: 50 results with 255-byte names (here 2-byte letters and
	 * a 1-byte one), the largest size, file count and id. At most 326 bytes a
	 * result, 16322 in all: it fits 16 KiB whole, by design of the limits.
	 */
	memset(r, 0, sizeof(r));
	for (size_t i = 0; i < SEARCH_MAX_RESULTS; i++) {
		memset(r[i].info_hash, (int)i + 1, 20);
		for (size_t k = 0; k < 127; k++)
			memcpy(r[i].name + 2 * k, "é", 2);
		r[i].name[254] = 'x';
		r[i].size = INT64_MAX;
		r[i].files = SEARCH_MAX_FILES;
	}
	buf_init(&b, 0);
	ck_assert_int_eq(search_msg_build_results(&b, UINT32_MAX, r, SEARCH_MAX_RESULTS), 50);
	ck_assert_uint_eq(b.len, 16322);
	ck_assert_uint_le(b.len, SEARCH_MSG_MAX);
	ck_assert_int_eq(parse(b.data, b.len, &msg, err, sizeof(err)), 0);
	assert_results_equal(r, &msg, 50);

	/* With a tighter cap the list is cut, in order, and still parses. */
	buf_reset(&b);
	n = search_msg_build_results_max(&b, UINT32_MAX, r, SEARCH_MAX_RESULTS, 8192);
	ck_assert_int_eq(n, (8192 - 5 - 17) / 326);
	ck_assert_uint_le(b.len, 8192);
	ck_assert_int_eq(parse(b.data, b.len, &msg, err, sizeof(err)), 0);
	assert_results_equal(r, &msg, (size_t)n);
	/* Exactly at the cap: the whole message is the limit, not one byte less. */
	buf_reset(&b);
	ck_assert_int_eq(search_msg_build_results_max(&b, UINT32_MAX, r, 2, 5 + 2 * 326 + 17), 2);
	ck_assert_uint_eq(b.len, 5 + 2 * 326 + 17);
	buf_reset(&b);
	ck_assert_int_eq(search_msg_build_results_max(&b, UINT32_MAX, r, 2, 5 + 2 * 326 + 16), 1);
	/* Not even an empty answer fits in 21 bytes ("d1:rle1:ti4294967295ee" is 22). */
	buf_reset(&b);
	ck_assert_int_eq(search_msg_build_results_max(&b, UINT32_MAX, r, 2, 22), 0);
	ck_assert_uint_eq(b.len, 22);
	buf_reset(&b);
	ck_assert_int_eq(search_msg_build_results_max(&b, UINT32_MAX, r, 2, 21), -1);
	ck_assert_uint_eq(b.len, 0);
	/* A cap over SEARCH_MSG_MAX counts as SEARCH_MSG_MAX. */
	buf_reset(&b);
	ck_assert_int_eq(search_msg_build_results_max(&b, 1, r, 50, SIZE_MAX), 50);
	buf_free(&b);
}
END_TEST

START_TEST(test_roundtrip_query)
{
	static const char *const q[] = { "x", "Big Buck Bunny", "Straße.Ærø",
	    "привет мир", "a b c d e f g h", "e\xcc\x81t\xc3\xa9" };
	char err[160];
	struct buf b;

	buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		buf_reset(&b);
		ck_assert_int_eq(search_msg_build_query(&b, (uint32_t)i * 1000, q[i]), 0);
		ck_assert_int_eq(parse(b.data, b.len, &msg, err, sizeof(err)), 0);
		ck_assert_str_eq(msg.query, norm(q[i]));
		ck_assert_uint_eq(msg.id, i * 1000);
		/* Parsing a query and rebuilding it gives the same bytes. */
		{
			struct buf b2;

			buf_init(&b2, 0);
			ck_assert_int_eq(search_msg_build_query(&b2, msg.id, msg.query), 0);
			ck_assert_uint_eq(b2.len, b.len);
			ck_assert_mem_eq(b2.data, b.data, b.len);
			ck_assert_int_eq(parse(b2.data, b2.len, &msg2, err, sizeof(err)), 0);
			ck_assert_str_eq(msg2.query, msg.query);
			buf_free(&b2);
		}
	}
	buf_free(&b);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("search_msg");
	TCase *tc = tcase_create("search_msg");

	tcase_add_loop_test(tc, test_normalise_table, 0,
	    sizeof(norm_cases) / sizeof(norm_cases[0]));
	tcase_add_test(tc, test_words);
	tcase_add_test(tc, test_distinctive);
	tcase_add_loop_test(tc, test_keywords, 0, sizeof(kw_cases) / sizeof(kw_cases[0]));
	tcase_add_test(tc, test_keywords_max);
	tcase_add_test(tc, test_key);
	tcase_add_loop_test(tc, test_match, 0, sizeof(match_cases) / sizeof(match_cases[0]));
	tcase_add_test(tc, test_sanitize);
	tcase_add_test(tc, test_parse_query);
	tcase_add_test(tc, test_parse_results);
	tcase_add_loop_test(tc, test_parse_bad, 0, sizeof(bad_cases) / sizeof(bad_cases[0]));
	tcase_add_test(tc, test_parse_limits);
	tcase_add_test(tc, test_truncation);
	tcase_add_test(tc, test_build_query);
	tcase_add_test(tc, test_build_results);
	tcase_add_test(tc, test_size_cap);
	tcase_add_test(tc, test_roundtrip_query);
	suite_add_tcase(s, tc);
	return s;
}
