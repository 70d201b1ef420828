/* metainfo.c: .torrent v1 parse, build and encode, with file-list sanitising (BEP 3, 12, 27). */
#include "metainfo.h"
#include "bencode.h"
#include "buf.h"
#include "sha.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every refusal names its reason; log_seterr formats it. */
#define mi_fail(err, errlen, ...) log_seterr(err, errlen, "metainfo", __VA_ARGS__)

const struct mi_limits mi_default_limits = { MI_DEFAULT_MAX_FILES, MI_DEFAULT_MAX_SIZE };

/* Beyond this many trackers the rest are ignored: de-duplication is quadratic. */
#define MI_MAX_TRACKERS 200

int
metainfo_component_ok(const char *s, size_t len)
{
	if (len == 0 || len > MI_MAX_COMPONENT)
		return 0;
	/* "." and ".." would climb out of, or alias, the download directory. */
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
			return 0;
	}
	return 1;
}

static char *
dupmem(const void *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		return NULL;
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static int
is_pow2(int64_t v)
{
	return v > 0 && (v & (v - 1)) == 0;
}

static int
parse_name(const struct be_doc *doc, uint32_t info, struct metainfo *mi,
    char *err, size_t errlen)
{
	int64_t t = be_dict_get_type(doc, info, "name", BE_STR);
	const uint8_t *p;
	size_t n;

	if (t < 0)
		return mi_fail(err, errlen, "info.name missing or not a string");
	p = be_str(doc, (uint32_t)t, &n);
	if (!metainfo_component_ok((const char *)p, n))
		return mi_fail(err, errlen, "info.name is not a safe file name");
	if ((mi->name = dupmem(p, n)) == NULL)
		return mi_fail(err, errlen, "out of memory");
	return 0;
}

static int
parse_piece_fields(const struct be_doc *doc, uint32_t info, struct metainfo *mi,
    char *err, size_t errlen)
{
	int64_t pl = be_dict_get_type(doc, info, "piece length", BE_INT);
	int64_t pc = be_dict_get_type(doc, info, "pieces", BE_STR);
	const uint8_t *p;
	size_t n;
	int64_t v;

	if (pl < 0)
		return mi_fail(err, errlen, "info.piece length missing or not an integer");
	v = doc->tok[pl].ival;
	if (!is_pow2(v) || v < MI_MIN_PIECE_LENGTH || v > MI_MAX_PIECE_LENGTH)
		return mi_fail(err, errlen, "piece length %lld is not a power of two "
		    "in [16 KiB, 64 MiB]", (long long)v);
	mi->piece_length = (uint32_t)v;
	if (pc < 0)
		return mi_fail(err, errlen, "info.pieces missing or not a string");
	p = be_str(doc, (uint32_t)pc, &n);
	if (n == 0 || n % SHA1_LEN != 0 || n / SHA1_LEN > UINT32_MAX)
		return mi_fail(err, errlen, "info.pieces length %zu is not a "
		    "non-zero multiple of 20", n);
	mi->piece_count = (uint32_t)(n / SHA1_LEN);
	if ((mi->pieces = malloc(n)) == NULL)
		return mi_fail(err, errlen, "out of memory");
	memcpy(mi->pieces, p, n);
	return 0;
}

/* BEP 27: only private=1 means private; another type is refused, not guessed. */
static int
parse_private(const struct be_doc *doc, uint32_t info, struct metainfo *mi,
    char *err, size_t errlen)
{
	int64_t t = be_dict_get(doc, info, "private");

	if (t < 0)
		return 0;
	if (doc->tok[t].type != BE_INT)
		return mi_fail(err, errlen, "info.private is not an integer");
	mi->private_flag = doc->tok[t].ival == 1;
	return 0;
}

static int
add_length(struct metainfo *mi, struct mi_file *f, int64_t len, char *err, size_t errlen)
{
	if (len < 0)
		return mi_fail(err, errlen, "negative file length");
	if ((uint64_t)len > (uint64_t)INT64_MAX - mi->total_length)
		return mi_fail(err, errlen, "total length overflows");
	f->length = (uint64_t)len;
	f->offset = mi->total_length;
	mi->total_length += (uint64_t)len;
	return 0;
}

static int
parse_single(const struct be_doc *doc, uint32_t lt, struct metainfo *mi,
    char *err, size_t errlen)
{
	if ((mi->files = calloc(1, sizeof(*mi->files))) == NULL)
		return mi_fail(err, errlen, "out of memory");
	mi->file_count = 1;
	if ((mi->files[0].path = dupmem(mi->name, strlen(mi->name))) == NULL)
		return mi_fail(err, errlen, "out of memory");
	return add_length(mi, &mi->files[0], doc->tok[lt].ival, err, errlen);
}

/* Joins the components of a "path" list with '/', checking each one. */
static char *
join_path(const struct be_doc *doc, uint32_t list, char *err, size_t errlen)
{
	size_t total = 0, n, at = 0;
	uint32_t i = list + 1;
	const uint8_t *p;
	char *s;

	if (doc->tok[list].count == 0) {
		mi_fail(err, errlen, "empty file path");
		return NULL;
	}
	for (uint32_t k = 0; k < doc->tok[list].count; k++, i = doc->tok[i].next) {
		if ((p = be_str(doc, i, &n)) == NULL) {
			mi_fail(err, errlen, "file path component is not a string");
			return NULL;
		}
		if (!metainfo_component_ok((const char *)p, n)) {
			mi_fail(err, errlen, "unsafe file path component");
			return NULL;
		}
		total += n + (k > 0);
		if (total > MI_MAX_PATH) {
			mi_fail(err, errlen, "file path longer than %d bytes", MI_MAX_PATH);
			return NULL;
		}
	}
	if ((s = malloc(total + 1)) == NULL) {
		mi_fail(err, errlen, "out of memory");
		return NULL;
	}
	i = list + 1;
	for (uint32_t k = 0; k < doc->tok[list].count; k++, i = doc->tok[i].next) {
		p = be_str(doc, i, &n);
		if (k > 0)
			s[at++] = '/';
		memcpy(s + at, p, n);
		at += n;
	}
	s[at] = '\0';
	return s;
}

static int
parse_file(const struct be_doc *doc, uint32_t ft, struct metainfo *mi,
    struct mi_file *f, char *err, size_t errlen)
{
	int64_t lt, pt;

	if (doc->tok[ft].type != BE_DICT)
		return mi_fail(err, errlen, "files entry is not a dict");
	if ((lt = be_dict_get_type(doc, ft, "length", BE_INT)) < 0)
		return mi_fail(err, errlen, "file length missing or not an integer");
	if ((pt = be_dict_get_type(doc, ft, "path", BE_LIST)) < 0)
		return mi_fail(err, errlen, "file path missing or not a list");
	if ((f->path = join_path(doc, (uint32_t)pt, err, errlen)) == NULL)
		return -1;
	return add_length(mi, f, doc->tok[lt].ival, err, errlen);
}

/* The end of a string, then '/', then every byte a component may hold. */
static int
path_rank(unsigned char c)
{
	if (c == '\0')
		return 0;
	return c == '/' ? 1 : c + 1;
}

/* Orders paths so that "a" is directly followed by anything under "a/". */
static int
path_cmp(const void *a, const void *b)
{
	const unsigned char *x = *(const unsigned char *const *)a;
	const unsigned char *y = *(const unsigned char *const *)b;

	for (; *x && *x == *y; x++, y++)
		;
	return path_rank(*x) - path_rank(*y);
}

/* Two entries writing the same file, or a file that is also a directory. */
static int
check_collisions(const struct metainfo *mi, char *err, size_t errlen)
{
	const char **v;
	int rc = 0;

	if ((v = calloc(mi->file_count, sizeof(*v))) == NULL)
		return mi_fail(err, errlen, "out of memory");
	for (size_t i = 0; i < mi->file_count; i++)
		v[i] = mi->files[i].path;
	qsort(v, mi->file_count, sizeof(*v), path_cmp);
	for (size_t i = 1; i < mi->file_count && rc == 0; i++) {
		size_t n = strlen(v[i - 1]);

		if (strcmp(v[i - 1], v[i]) == 0)
			rc = mi_fail(err, errlen, "duplicate file path");
		else if (strncmp(v[i - 1], v[i], n) == 0 && v[i][n] == '/')
			rc = mi_fail(err, errlen, "file path is also a directory");
	}
	free(v);
	return rc;
}

static int
parse_multi(const struct be_doc *doc, uint32_t lt, const struct mi_limits *lim,
    struct metainfo *mi, char *err, size_t errlen)
{
	uint32_t n = doc->tok[lt].count, i = lt + 1;

	if (n == 0)
		return mi_fail(err, errlen, "info.files is empty");
	if (n > lim->max_files)
		return mi_fail(err, errlen, "%u files, more than the limit %zu "
		    "(max_files_per_torrent)", (unsigned)n, lim->max_files);
	if ((mi->files = calloc(n, sizeof(*mi->files))) == NULL)
		return mi_fail(err, errlen, "out of memory");
	mi->multi_file = 1;
	for (uint32_t k = 0; k < n; k++, i = doc->tok[i].next) {
		mi->file_count = k + 1;
		if (parse_file(doc, i, mi, &mi->files[k], err, errlen) == -1)
			return -1;
	}
	return check_collisions(mi, err, errlen);
}

static int
parse_layout(const struct be_doc *doc, uint32_t info, const struct mi_limits *lim,
    struct metainfo *mi, char *err, size_t errlen)
{
	int64_t lt = be_dict_get(doc, info, "length");
	int64_t ft = be_dict_get(doc, info, "files");
	uint64_t want;

	if (lt >= 0 && ft >= 0)
		return mi_fail(err, errlen, "info has both length and files");
	if (lt >= 0 && doc->tok[lt].type == BE_INT) {
		if (parse_single(doc, (uint32_t)lt, mi, err, errlen) == -1)
			return -1;
	} else if (ft >= 0 && doc->tok[ft].type == BE_LIST) {
		if (parse_multi(doc, (uint32_t)ft, lim, mi, err, errlen) == -1)
			return -1;
	} else
		return mi_fail(err, errlen, "info needs an integer length or a files list");
	if (mi->total_length == 0)
		return mi_fail(err, errlen, "total length is zero");
	want = (mi->total_length - 1) / mi->piece_length + 1;
	if (want != mi->piece_count)
		return mi_fail(err, errlen, "%u pieces given, %llu needed for %llu bytes",
		    mi->piece_count, (unsigned long long)want,
		    (unsigned long long)mi->total_length);
	return 0;
}

/* Everything the info dict at token info says; raw is its exact encoding. */
static int
parse_info_tok(const struct be_doc *doc, uint32_t info, const struct mi_limits *lim,
    struct metainfo *mi, char *err, size_t errlen)
{
	const uint8_t *raw = doc->buf + doc->tok[info].off;
	size_t rawlen = doc->tok[info].len;

	if (doc->tok[info].type != BE_DICT)
		return mi_fail(err, errlen, "info is not a dict");
	if (parse_name(doc, info, mi, err, errlen) == -1 ||
	    parse_piece_fields(doc, info, mi, err, errlen) == -1 ||
	    parse_private(doc, info, mi, err, errlen) == -1 ||
	    parse_layout(doc, info, lim, mi, err, errlen) == -1)
		return -1;
	if ((mi->info = malloc(rawlen)) == NULL)
		return mi_fail(err, errlen, "out of memory");
	memcpy(mi->info, raw, rawlen);
	mi->info_len = rawlen;
	sha1(raw, rawlen, mi->info_hash);
	return 0;
}

/* Unusable or repeated URLs are dropped rather than failing the torrent. */
static int
add_tracker(struct metainfo *mi, const void *url, size_t n, uint32_t tier)
{
	const unsigned char *u = url;
	char **tr;
	uint32_t *ti;

	if (n == 0 || mi->tracker_count >= MI_MAX_TRACKERS)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (u[i] < 0x20 || u[i] == 0x7f)
			return 0;
	for (size_t i = 0; i < mi->tracker_count; i++)
		if (strlen(mi->trackers[i]) == n && memcmp(mi->trackers[i], u, n) == 0)
			return 0;
	if ((tr = realloc(mi->trackers, (mi->tracker_count + 1) * sizeof(*tr))) == NULL)
		return -1;
	mi->trackers = tr;
	if ((ti = realloc(mi->tiers, (mi->tracker_count + 1) * sizeof(*ti))) == NULL)
		return -1;
	mi->tiers = ti;
	if ((tr[mi->tracker_count] = dupmem(u, n)) == NULL)
		return -1;
	ti[mi->tracker_count++] = tier;
	return 1;
}

/* Adds one announce-list tier; returns 1 if it contributed a tracker. */
static int
add_tier(const struct be_doc *doc, uint32_t lt, struct metainfo *mi, uint32_t tier)
{
	uint32_t i = lt + 1;
	int added = 0;

	for (uint32_t k = 0; k < doc->tok[lt].count; k++, i = doc->tok[i].next) {
		const uint8_t *p;
		size_t n;
		int rc;

		if ((p = be_str(doc, i, &n)) == NULL)
			continue;
		if ((rc = add_tracker(mi, p, n, tier)) == -1)
			return -1;
		added |= rc;
	}
	return added;
}

/*
 * BEP 12 tiers come first; a plain announce not already listed is kept as
 * the last tier, a fallback for clients that wrote the two inconsistently.
 */
static int
parse_trackers(const struct be_doc *doc, uint32_t top, struct metainfo *mi)
{
	int64_t al = be_dict_get_type(doc, top, "announce-list", BE_LIST);
	int64_t an = be_dict_get_type(doc, top, "announce", BE_STR);
	uint32_t tier = 0;

	if (al >= 0) {
		uint32_t i = (uint32_t)al + 1;

		for (uint32_t k = 0; k < doc->tok[al].count; k++, i = doc->tok[i].next) {
			int rc;

			if (doc->tok[i].type != BE_LIST)
				continue;
			if ((rc = add_tier(doc, i, mi, tier)) == -1)
				return -1;
			tier += (uint32_t)rc;
		}
	}
	if (an >= 0) {
		const uint8_t *p;
		size_t n;

		p = be_str(doc, (uint32_t)an, &n);
		if (add_tracker(mi, p, n, tier) == -1)
			return -1;
	}
	return 0;
}

/* A text field with a NUL inside cannot be a C string; it is dropped. */
static int
opt_text(const struct be_doc *doc, uint32_t top, const char *key, char **out)
{
	int64_t t = be_dict_get_type(doc, top, key, BE_STR);
	const uint8_t *p;
	size_t n;

	if (t < 0)
		return 0;
	p = be_str(doc, (uint32_t)t, &n);
	if (memchr(p, '\0', n) != NULL)
		return 0;
	return (*out = dupmem(p, n)) == NULL ? -1 : 0;
}

static int
parse_top(const struct be_doc *doc, const struct mi_limits *lim, struct metainfo *mi,
    char *err, size_t errlen)
{
	int64_t info, cd;

	if (doc->tok[0].type != BE_DICT)
		return mi_fail(err, errlen, "torrent is not a dict");
	if ((info = be_dict_get_type(doc, 0, "info", BE_DICT)) < 0)
		return mi_fail(err, errlen, "info dict missing");
	if (parse_info_tok(doc, (uint32_t)info, lim, mi, err, errlen) == -1)
		return -1;
	if (parse_trackers(doc, 0, mi) == -1 ||
	    opt_text(doc, 0, "comment", &mi->comment) == -1 ||
	    opt_text(doc, 0, "created by", &mi->created_by) == -1)
		return mi_fail(err, errlen, "out of memory");
	if ((cd = be_dict_get_type(doc, 0, "creation date", BE_INT)) >= 0)
		mi->creation_date = doc->tok[cd].ival;
	return 0;
}

/* Decodes buf and hands the document to fn; *out is set only on success. */
static int
parse_with(const uint8_t *buf, size_t len, const struct mi_limits *lim,
    struct metainfo **out, char *err, size_t errlen, int whole)
{
	struct metainfo *mi;
	struct be_doc doc;
	char berr[128];
	int rc;

	*out = NULL;
	if (lim == NULL)
		lim = &mi_default_limits;
	if (len > lim->max_size)
		return mi_fail(err, errlen, "%zu bytes, more than the limit %zu "
		    "(max_metadata_size)", len, lim->max_size);
	if (be_decode(buf, len, &be_default_limits, &doc, berr, sizeof(berr)) == -1)
		return mi_fail(err, errlen, "%s", berr);
	if ((mi = calloc(1, sizeof(*mi))) == NULL) {
		be_doc_free(&doc);
		return mi_fail(err, errlen, "out of memory");
	}
	if (whole)
		rc = parse_top(&doc, lim, mi, err, errlen);
	else
		rc = parse_info_tok(&doc, 0, lim, mi, err, errlen);
	be_doc_free(&doc);
	if (rc == -1) {
		metainfo_free(mi);
		return -1;
	}
	*out = mi;
	return 0;
}

int
metainfo_parse(const uint8_t *buf, size_t len, const struct mi_limits *lim,
    struct metainfo **out, char *err, size_t errlen)
{
	return parse_with(buf, len, lim, out, err, errlen, 1);
}

int
metainfo_parse_info(const uint8_t *info, size_t len, const struct mi_limits *lim,
    struct metainfo **out, char *err, size_t errlen)
{
	return parse_with(info, len, lim, out, err, errlen, 0);
}

void
metainfo_free(struct metainfo *mi)
{
	if (mi == NULL)
		return;
	for (size_t i = 0; i < mi->file_count; i++)
		free(mi->files[i].path);
	for (size_t i = 0; i < mi->tracker_count; i++)
		free(mi->trackers[i]);
	free(mi->files);
	free(mi->trackers);
	free(mi->tiers);
	free(mi->name);
	free(mi->pieces);
	free(mi->comment);
	free(mi->created_by);
	free(mi->info);
	free(mi);
}

uint32_t
metainfo_auto_piece_length(uint64_t total_length)
{
	uint32_t pl = 16u << 10;

	while (pl < (16u << 20) && total_length / pl + (total_length % pl != 0) > 2000)
		pl <<= 1;
	return pl;
}

/* One "path" list: the '/'-separated parts, empty ones included so parse refuses them. */
static int
put_path(struct buf *b, const char *path)
{
	const char *s = path, *slash;

	if (be_put_list(b) == -1)
		return -1;
	for (;;) {
		slash = strchr(s, '/');
		if (be_put_str(b, s, slash ? (size_t)(slash - s) : strlen(s)) == -1)
			return -1;
		if (slash == NULL)
			break;
		s = slash + 1;
	}
	return be_put_end(b);
}

static int
put_files(struct buf *b, const struct mi_build *in)
{
	if (be_put_cstr(b, "files") == -1 || be_put_list(b) == -1)
		return -1;
	for (size_t i = 0; i < in->file_count; i++) {
		const struct mi_build_file *f = &in->files[i];

		if (f->path == NULL || f->length > INT64_MAX)
			return -1;
		if (be_put_dict(b) == -1 ||
		    be_put_cstr(b, "length") == -1 ||
		    be_put_int(b, (int64_t)f->length) == -1 ||
		    be_put_cstr(b, "path") == -1 ||
		    put_path(b, f->path) == -1 ||
		    be_put_end(b) == -1)
			return -1;
	}
	return be_put_end(b);
}

/* Keys in byte order: files|length, name, piece length, pieces, private. */
static int
put_info(struct buf *b, const struct mi_build *in)
{
	if (be_put_dict(b) == -1)
		return -1;
	if (in->multi_file) {
		if (put_files(b, in) == -1)
			return -1;
	} else if (in->files[0].length > INT64_MAX ||
	    be_put_cstr(b, "length") == -1 ||
	    be_put_int(b, (int64_t)in->files[0].length) == -1)
		return -1;
	if (be_put_cstr(b, "name") == -1 || be_put_cstr(b, in->name) == -1 ||
	    be_put_cstr(b, "piece length") == -1 ||
	    be_put_int(b, in->piece_length) == -1 ||
	    be_put_cstr(b, "pieces") == -1 ||
	    be_put_str(b, in->pieces, (size_t)in->piece_count * SHA1_LEN) == -1)
		return -1;
	if (in->private_flag &&
	    (be_put_cstr(b, "private") == -1 || be_put_int(b, 1) == -1))
		return -1;
	return be_put_end(b);
}

static int
build_extras(const struct mi_build *in, struct metainfo *mi)
{
	for (size_t i = 0; i < in->tracker_count; i++) {
		const char *t = in->trackers[i];

		if (t != NULL &&
		    add_tracker(mi, t, strlen(t), (uint32_t)mi->tracker_count) == -1)
			return -1;
	}
	if (in->created_by != NULL &&
	    (mi->created_by = dupmem(in->created_by, strlen(in->created_by))) == NULL)
		return -1;
	mi->creation_date = in->creation_date;
	return 0;
}

int
metainfo_build(const struct mi_build *in, struct metainfo **out,
    char *err, size_t errlen)
{
	struct buf b;
	int rc;

	*out = NULL;
	if (in->name == NULL || in->files == NULL || in->file_count == 0 ||
	    (!in->multi_file && in->file_count != 1))
		return mi_fail(err, errlen, "build needs a name and one or more files");
	if (in->piece_count == 0 || in->pieces == NULL)
		return mi_fail(err, errlen, "build needs piece hashes");
	buf_init(&b, mi_default_limits.max_size);
	if (put_info(&b, in) == -1) {
		buf_free(&b);
		return mi_fail(err, errlen, "cannot encode the info dict");
	}
	rc = metainfo_parse_info(b.data, b.len, &mi_default_limits, out, err, errlen);
	buf_free(&b);
	if (rc == -1)
		return -1;
	if (build_extras(in, *out) == -1) {
		metainfo_free(*out);
		*out = NULL;
		return mi_fail(err, errlen, "out of memory");
	}
	return 0;
}

/* BEP 12: one inner list per tier, in the order the trackers are stored. */
static int
put_announce_list(struct buf *b, const struct metainfo *mi)
{
	if (be_put_cstr(b, "announce-list") == -1 || be_put_list(b) == -1)
		return -1;
	for (size_t i = 0; i < mi->tracker_count; i++) {
		if (i > 0 && mi->tiers[i] != mi->tiers[i - 1] && be_put_end(b) == -1)
			return -1;
		if ((i == 0 || mi->tiers[i] != mi->tiers[i - 1]) && be_put_list(b) == -1)
			return -1;
		if (be_put_cstr(b, mi->trackers[i]) == -1)
			return -1;
	}
	if (be_put_end(b) == -1)
		return -1;
	return be_put_end(b);
}

int
metainfo_encode(const struct metainfo *mi, struct buf *out)
{
	if (be_put_dict(out) == -1)
		return -1;
	if (mi->tracker_count > 0 &&
	    (be_put_cstr(out, "announce") == -1 ||
	    be_put_cstr(out, mi->trackers[0]) == -1 ||
	    put_announce_list(out, mi) == -1))
		return -1;
	if (mi->comment &&
	    (be_put_cstr(out, "comment") == -1 || be_put_cstr(out, mi->comment) == -1))
		return -1;
	if (mi->created_by && (be_put_cstr(out, "created by") == -1 ||
	    be_put_cstr(out, mi->created_by) == -1))
		return -1;
	if (mi->creation_date != 0 && (be_put_cstr(out, "creation date") == -1 ||
	    be_put_int(out, mi->creation_date) == -1))
		return -1;
	if (be_put_cstr(out, "info") == -1 ||
	    be_put_raw(out, mi->info, mi->info_len) == -1)
		return -1;
	return be_put_end(out);
}

int64_t
metainfo_file_at(const struct metainfo *mi, uint64_t off)
{
	size_t lo = 0, hi = mi->file_count;

	if (off >= mi->total_length || mi->file_count == 0)
		return -1;
	/*
	 * The last file starting at or before off; empty files share their
	 * successor's offset, so this lands on the one that holds the byte.
	 */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (mi->files[mid].offset <= off)
			lo = mid;
		else
			hi = mid;
	}
	return (int64_t)lo;
}

uint32_t
metainfo_piece_size(const struct metainfo *mi, uint32_t i)
{
	uint64_t start;

	if (i >= mi->piece_count)
		return 0;
	start = (uint64_t)i * mi->piece_length;
	if (mi->total_length - start < mi->piece_length)
		return (uint32_t)(mi->total_length - start);
	return mi->piece_length;
}
