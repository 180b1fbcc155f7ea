/*
 * smimepub (internal): the one pipeline every operation that writes runs its entries through
 * (publish, harvest, prune, a remove of several entries).
 *
 * An operation hands over its items (each embeds a struct pipe_item) and drives them through
 * the stages; each stage takes the items in one state and leaves each in the next:
 *
 *   PIPE_LOCATE --pipe_locate-->  PIPE_HAVE     batched address searches, in flight
 *   PIPE_READ   --pipe_read---->  PIPE_HAVE     reads by DN, in flight
 *   PIPE_HAVE   --the operation's planner, pipe_planned-->  PIPE_PLANNED (or PIPE_DONE)
 *   PIPE_PLANNED --pipe_write-->  PIPE_WRITTEN  undo records on disk (one fsync per call),
 *                                               then the modifies, in flight
 *   PIPE_SINGLE --pipe_single-->  PIPE_WRITTEN or PIPE_DONE
 *
 * Every stage sends as many operations at once as the session's adaptive window allows
 * (window.h), reconnects with backoff when the connection is lost, resends reads (reading
 * changes nothing) and settles each write whose answer was lost by reading its entry again.
 * Anything unusual (no entry or several, a second item for one entry, a write that met a
 * concurrent change, a read that failed) leaves the item in PIPE_SINGLE: the operation's own
 * one-at-a-time path (read, plan, pub_apply, re-plan on conflict) decides it, under
 * pipe_single's reconnect-and-settle loop. So there is one way to decide an entry and one way
 * to write it, and a batch never decides differently from a single item.
 */
#ifndef SMIMEPUB_PIPELINE_H
#define SMIMEPUB_PIPELINE_H

#include "exec.h"

enum pipe_state {
	PIPE_LOCATE = 1, /* to find by addrs (pipe_locate) */
	PIPE_READ,       /* to read by dn (pipe_read) */
	PIPE_READING,
	PIPE_HAVE,       /* entry known: the operation plans it */
	PIPE_PLANNED,    /* plan and changes set: pipe_write journals and sends them */
	PIPE_SENT,
	PIPE_WRITTEN,    /* the change happened; action says what it did */
	PIPE_SINGLE,     /* for the operation's one-at-a-time path (pipe_single) */
	PIPE_DONE,       /* final: the operation's own result, or res when res.action is set */
};

struct pipe_item {
	int state;
	const char *dn;               /* PIPE_READ: the entry (borrowed) */
	const char *const *addrs;     /* PIPE_LOCATE: its addresses, normalised (borrowed) */
	size_t n_addrs;
	const smp_entry *entry;       /* from PIPE_HAVE on: own, or one of a pipe_search's */
	smp_entry *own;               /* owned: the entry as read */
	const smp_plan *plan;         /* PIPE_PLANNED on: the operation's plan (borrowed) */
	smp_change *changes;          /* owned: the modify that carries it out */
	size_t n_changes;
	smp_action action;            /* PIPE_WRITTEN: what the write did */
	struct pub_result res;        /* a failure decided in the pipeline (res.action set) */
	int msgid;                    /* the pipeline's own */
	size_t jid;
	const char *undoes;           /* undo: the journal record the write undoes, or NULL */
	char record[24];              /* PIPE_WRITTEN: the id of its journal record, or "" */
};

/* Frees what the pipeline holds for it (own, changes, res) and clears it. */
void pipe_item_release(struct pipe_item *it);

/* Drops the entry, plan and changes of an earlier attempt (keeps state, dn, addrs, res). */
void pipe_item_reset(struct pipe_item *it);

/* Final failure: res filled as pub_failure does, state PIPE_DONE. */
void pipe_fail(struct pipe_item *it, int code, const char *msg);

/*
 * An item the operation has planned: builds the changes that carry out plan (borrowed; it
 * must live until the item is reported) on it->entry and sets PIPE_PLANNED. Returns 0 or
 * SMP_ERR_NOMEM.
 */
int pipe_planned(smp_session *c, struct pipe_item *it, const smp_plan *plan);

/* The entries pipe_locate found: the items point into them until this is freed. */
struct pipe_search;
void pipe_search_free(struct pipe_search *s);

/*
 * Finds the entries of the PIPE_LOCATE items of g[0..n): one search per PIPE_ADDRS addresses.
 * An item whose addresses match exactly one entry goes to PIPE_HAVE, any other to
 * PIPE_SINGLE. *out (free with pipe_search_free after the items) holds the entries. Returns 0
 * or SMP_ERR_NOMEM.
 */
int pipe_locate(smp_session *c, struct pipe_item **g, size_t n, struct pipe_search **out);

#define PIPE_ADDRS 50

/*
 * Reads the entries of the PIPE_READ items of g[0..n): PIPE_HAVE when read, PIPE_SINGLE when
 * the entry is gone or the read failed (the one-at-a-time path says what that means for the
 * operation), failed (PIPE_DONE) when the directory stayed away.
 */
void pipe_read(smp_session *c, struct pipe_item **g, size_t n);

/* Of several PIPE_HAVE items for one entry the first stays; the others go to PIPE_SINGLE. */
int pipe_one_per_entry(struct pipe_item **g, size_t n);

/*
 * Journals the PIPE_PLANNED items of g[0..n) (one batch, one fsync: nothing is sent before its
 * undo record is on disk) and sends their modifies. Each ends PIPE_WRITTEN, PIPE_SINGLE (it
 * met a concurrent change: its record voided) or failed; a write in flight when the
 * directory went away for good fails with its record kept (its outcome is unknown, see
 * journal.h). Returns 0 or SMP_ERR_NOMEM.
 */
int pipe_write(smp_session *c, struct pipe_item **g, size_t n);

/*
 * pipe_write for the PIPE_PLANNED items of g[0..n), a group at a time (pipe_group_size: 16
 * windows, at least 64), so each group's undo records reach the disk just before its writes
 * and its final drain, one round trip, is paid rarely. progress (may be NULL) gets the number
 * of items of g behind each group. Returns 0 or SMP_ERR_NOMEM.
 */
int pipe_write_groups(smp_session *c, struct pipe_item **g, size_t n,
		      void (*progress)(smp_session *c, size_t done));

/*
 * The operation's one-at-a-time path for an item: fills it->res (state PIPE_DONE) or sets
 * PIPE_WRITTEN with it->action, going through pub_apply. Returns 0 or SMP_ERR_NOMEM.
 */
typedef int (*pipe_single_fn)(smp_session *c, struct pipe_item *it, void *ctx);

/*
 * Runs fn for it; after a lost connection reconnects with backoff, settles a write whose
 * answer was lost (PIPE_WRITTEN when it happened, with it->res emptied but for dn) and runs
 * fn again, up to PUB_MAX_RETRIES times. Returns 0 or SMP_ERR_NOMEM.
 */
int pipe_single(smp_session *c, struct pipe_item *it, pipe_single_fn fn, void *ctx);

/*
 * How many items to take into one pipe_write: per windows' worth of operations, between min
 * and max, so the final drain of each call (one round trip) is paid rarely.
 */
size_t pipe_group_size(const smp_session *c, size_t per_window, size_t min, size_t max);

/* ---- publish's items (publish.c): paths.c and harvest.c hand them over in chunks -------- */

/* One certificate to publish. */
struct pub_item {
	struct pipe_item p;       /* its way through the pipeline; p.res its result */
	const char *source;       /* file name for records and messages (borrowed) */
	unsigned char *der;       /* the certificate (malloc'd, owned) */
	size_t len;
	smp_certinfo *ci;         /* its analysis (owned; x509 may be NULL); NULL when p.res is
				     already final */
	size_t tag;               /* the caller's */
	struct pub_existing pe;   /* the entry's values, as planned in bulk */
	int replace_run;          /* it beats what an earlier chunk of the run published for its
				     address: it may replace that (see struct run_best) */
	smp_plan *plan;
};

void pub_item_release(struct pub_item *it);

/* Hands a finished item to the caller of pub_bulk instead of the publish's on_item. */
typedef void (*pub_emit_fn)(smp_session *c, struct pub_item *it, void *ctx);

/*
 * Publishes items[0..n) with the same decisions and records as pub_certificate, through the
 * pipeline: batched searches, one item per entry planned in bulk, journalled and written with
 * operations in flight; the rest one by one (pub_one). Hands every finished item, in order,
 * to emit (or, emit NULL, reports it to c->pub's on_item), and releases the items. Returns 0
 * or SMP_ERR_NOMEM.
 */
int pub_bulk(smp_session *c, struct pub_item *items, size_t n, pub_emit_fn emit, void *ctx);

/*
 * Publishes one item the one-at-a-time way (pub_certificate under pipe_single: reconnects and
 * settles); it->p.res is its result. Returns 0 or SMP_ERR_NOMEM.
 */
int pub_one(smp_session *c, struct pub_item *it);

#endif
