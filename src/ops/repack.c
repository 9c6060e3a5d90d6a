/* SPDX-License-Identifier: MIT */
/*
 * repack.c - repacking: the live blobs of mostly empty packs copied verbatim
 * into new packs. pruneint.h has what the rooms of prune share.
 */
#include "pruneint.h"

/* ---- repacking ----------------------------------------------------------- */


int gc_outpack_flush(struct gc *g, struct outpack *op)
{
	struct drfs_repo *r = g->r;
	struct drfs_id id;
	char name[DRFS_OBJECT_NAME_MAX];
	struct drfs_txn *t;
	if (!op->n)
		return 0;
	int e = drfs_pack_finish(&r->keys, op->e, op->n, &op->buf);
	if (e < 0)
		return e;
	drfs_sha256(op->buf.p, op->buf.len, &id);
	drfs_name_pack(&id, name);
	e = drfs_backend_put(r->be, name, op->buf.p, op->buf.len,
			     DRFS_PUT_CREATE_ONLY);
	if (e < 0) {
		gc_say(g->o->report, g->o->report_data,
		       "cannot write \"%s\": %s", name,
		       drfs_backend_last_error(r->be) ?: drfs_strerror(e));
		return e;
	}
	/* uploaded: now the cache may point the blobs at it */
	e = drfs_txn_begin(r->index, true, &t);
	uint32_t seq;
	e = e ?: drfs_index_pack_add(t, &id, (uint32_t)op->buf.len,
				     (uint32_t)op->n, &seq);
	for (size_t i = 0; e >= 0 && i < op->n; i++) {
		struct drfs_blob_loc loc = {
			.pack_seq = seq, .offset = op->e[i].offset,
			.stored_len = op->e[i].stored_len,
			.raw_len = op->e[i].raw_len, .type = op->e[i].type,
			.flags = op->e[i].flags,
		};
		e = drfs_index_blob_put(t, &op->e[i].id, &loc);
	}
	if (e >= 0)
		e = drfs_txn_commit(t);
	else
		drfs_txn_abort(t);
	if (e < 0)
		return e;
	op->written++;
	op->bytes += op->buf.len;
	drfs_buf_reset(&op->buf);
	op->n = 0;
	drfs_test_crash_point("repack");
	return 0;
}

int gc_repack_one(struct gc *g, struct gpack *p, struct outpack *op,
		  struct drfs_buf *scratch)
{
	struct drfs_repo *r = g->r;
	char name[DRFS_OBJECT_NAME_MAX];
	struct drfs_buf in;
	struct drfs_pack_entry *es = NULL;
	size_t n = 0;
	uint64_t toff;
	uint32_t tlen;
	struct drfs_id sum;
	bool altered = false;
	int e;

	drfs_name_pack(&p->id, name);
	drfs_buf_init(&in, DRFS_PACK_MAX);
	e = drfs_backend_get(r->be, name, 0, UINT64_MAX, &in);
	if (e >= 0 && in.len < DRFS_PACK_TAIL_LEN)
		e = -EBADMSG;
	if (e >= 0) {
		/* altered (a corrupted copy whose good copy is read first,
		 * docs/verification.md): each blob copied is verified below,
		 * and the trailer is authenticated */
		drfs_sha256(in.p, in.len, &sum);
		altered = in.len != p->length || !drfs_id_eq(&sum, &p->id);
	}
	e = e ?: drfs_pack_tail_parse(in.p + in.len - DRFS_PACK_TAIL_LEN,
				      DRFS_PACK_TAIL_LEN, in.len, &toff, &tlen);
	e = e ?: drfs_pack_trailer_decode(&r->keys, in.p + toff, tlen, toff,
					  &es, &n);
	for (size_t i = 0; e >= 0 && i < n; i++) {
		struct drfs_txn *t;
		struct drfs_blob_loc loc;
		e = drfs_txn_begin(r->index, false, &t);
		if (e < 0)
			break;
		int ge = drfs_index_blob_get(t, &es[i].id, &loc);
		int m = ge == 0 ? gc_is_marked(t, MARK_DB, &es[i].id) : 0;
		drfs_txn_abort(t);
		if (ge < 0 && ge != -ENOENT) {
			e = ge;
			break;
		}
		if (m < 0) {
			e = m;
			break;
		}
		/* only the copy the index uses, only live blobs */
		if (ge || !m || loc.pack_seq != p->seq ||
		    loc.offset != es[i].offset)
			continue;
		/* never copy a damaged blob into a new pack */
		drfs_buf_reset(scratch);
		e = drfs_blob_open(&r->keys, NULL, &es[i], in.p + es[i].offset,
				   es[i].stored_len, scratch);
		if (e < 0)
			break;
		if (op->buf.len + es[i].stored_len + 4096 +
			    (op->n + 1) * DRFS_PACK_ENTRY_LEN > DRFS_PACK_MAX ||
		    op->n >= DRFS_PACK_MAX_BLOBS) {
			e = gc_outpack_flush(g, op);
			if (e < 0)
				break;
		}
		struct drfs_pack_entry ne = es[i];
		ne.offset = (uint32_t)op->buf.len;
		e = drfs_buf_append(&op->buf, in.p + es[i].offset,
				    es[i].stored_len);
		if (e < 0)
			break;
		op->e[op->n++] = ne;
		if (op->buf.len >= r->config.pack_target)
			e = gc_outpack_flush(g, op);
	}
	if (e == -EBADMSG)
		gc_say(g->o->report, g->o->report_data,
		       "pack \"%s\" is damaged: not repacking (run \"drfs check "
		       "--read-data\")",
		       name);
	else if (e >= 0 && altered)
		gc_say(g->o->report, g->o->report_data,
		       "pack \"%s\" does not match its name: its live blobs "
		       "verified and were copied",
		       name);
	free(es);
	drfs_buf_release(&in);
	return e;
}
