/* fuzz-metainfo.c: libFuzzer harness; accepted torrents must hold the parser's promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "metainfo.h"
#include "sha.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_path(const char *path)
{
	const char *s = path, *slash;

	if (strlen(path) > MI_MAX_PATH)
		abort();
	for (;;) {
		slash = strchr(s, '/');
		if (!metainfo_component_ok(s, slash ? (size_t)(slash - s) : strlen(s)))
			abort();
		if (slash == NULL)
			return;
		s = slash + 1;
	}
}

static void
check_invariants(const struct metainfo *mi)
{
	uint8_t h[SHA1_LEN];
	uint64_t off = 0, last;

	sha1(mi->info, mi->info_len, h);
	if (memcmp(h, mi->info_hash, SHA1_LEN) != 0)
		abort();
	if (!metainfo_component_ok(mi->name, strlen(mi->name)) || mi->file_count == 0)
		abort();
	for (size_t i = 0; i < mi->file_count; i++) {
		const struct mi_file *f = &mi->files[i];

		check_path(f->path);
		if (f->offset != off)
			abort();
		if (f->length > 0 && metainfo_file_at(mi, f->offset) != (int64_t)i)
			abort();
		off += f->length;
	}
	if (off != mi->total_length || off == 0 || metainfo_file_at(mi, off) != -1)
		abort();
	last = mi->total_length - (uint64_t)(mi->piece_count - 1) * mi->piece_length;
	if (last == 0 || last > mi->piece_length ||
	    metainfo_piece_size(mi, mi->piece_count - 1) != last)
		abort();
}

static void
check_same(const struct metainfo *a, const struct metainfo *b)
{
	if (memcmp(a->info_hash, b->info_hash, SHA1_LEN) != 0 ||
	    a->tracker_count != b->tracker_count ||
	    a->creation_date != b->creation_date ||
	    (a->comment == NULL) != (b->comment == NULL) ||
	    (a->created_by == NULL) != (b->created_by == NULL))
		abort();
	for (size_t i = 0; i < a->tracker_count; i++)
		if (strcmp(a->trackers[i], b->trackers[i]) != 0 || a->tiers[i] != b->tiers[i])
			abort();
}

/* metainfo_build from what was parsed must pass the same checks. */
static void
check_build(const struct metainfo *mi)
{
	struct mi_build_file *files = calloc(mi->file_count, sizeof(*files));
	struct metainfo *built;
	struct mi_build in;
	char err[160];

	if (files == NULL)
		abort();
	for (size_t i = 0; i < mi->file_count; i++) {
		files[i].path = mi->files[i].path;
		files[i].length = mi->files[i].length;
	}
	memset(&in, 0, sizeof(in));
	in.name = mi->name;
	in.multi_file = mi->multi_file;
	in.files = files;
	in.file_count = mi->file_count;
	in.piece_length = mi->piece_length;
	in.pieces = mi->pieces;
	in.piece_count = mi->piece_count;
	in.private_flag = mi->private_flag;
	if (metainfo_build(&in, &built, err, sizeof(err)) == -1)
		abort();
	if (built->total_length != mi->total_length || built->file_count != mi->file_count)
		abort();
	metainfo_free(built);
	free(files);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct metainfo *mi, *again;
	char err[160];
	struct buf b;

	if (metainfo_parse(data, size, NULL, &mi, err, sizeof(err)) == 0) {
		check_invariants(mi);
		buf_init(&b, 0);
		if (metainfo_encode(mi, &b) == -1)
			abort();
		if (metainfo_parse(b.data, b.len, NULL, &again, err, sizeof(err)) == -1)
			abort();
		check_same(mi, again);
		metainfo_free(again);
		buf_free(&b);
		check_build(mi);
		metainfo_free(mi);
	}
	if (metainfo_parse_info(data, size, NULL, &mi, err, sizeof(err)) == 0) {
		check_invariants(mi);
		check_build(mi);
		metainfo_free(mi);
	}
	return 0;
}
