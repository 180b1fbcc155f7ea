/* smimepub prune: remove expired, untrusted or superseded certificates across the directory. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "smimepub/audit.h"
#include "smimepub/journal.h"

/*
 * The walk never writes: entries to change are spooled (their DNs, NUL-terminated, in an
 * unlinked temporary file) and changed after the paged search has ended, each read again
 * first. Memory stays bounded on any directory size, and no server sees its paged search
 * interleaved with modifications of the entries it pages through. A dry run changes nothing
 * and prints straight from the walk.
 */

struct prune_state {
	struct cli_opts *o;
	struct cli_out out;
	smp_trust *trust;
	smp_prune_sel sel;
	smp_dir *dir;
	smp_journal *journal;
	FILE *spool;
	size_t spooled;
	size_t entries;
	size_t removed;
	size_t failed_entries;
	int status;             /* worst exit status so far */
	int stop;               /* the connection is gone: no point in going on */
	struct cli_progress progress;
	smp_error err;          /* why the walk stopped */
};

/* The changes that delete the picked values: one smp_change per attribute form. */
struct prune_changes {
	smp_change *v;
	size_t n;
};

static const char *value_attr(const smp_entry *e, size_t i, const char *default_attr)
{
	return e->cert_attrs != NULL && e->cert_attrs[i] != NULL ? e->cert_attrs[i] : default_attr;
}

static smp_change *change_for(struct prune_changes *c, const char *attr, size_t cap)
{
	smp_change *ch;

	for (size_t k = 0; k < c->n; k++)
		if (strcmp(c->v[k].attr, attr) == 0)
			return &c->v[k];
	ch = &c->v[c->n];
	ch->attr = attr;
	ch->del = calloc(cap, sizeof(*ch->del));
	ch->add = calloc(cap, sizeof(*ch->add));
	if (ch->del == NULL || ch->add == NULL) {
		free(ch->del);
		free(ch->add);
		ch->del = ch->add = NULL;
		return NULL;
	}
	c->n++;
	return ch;
}

static void changes_release(struct prune_changes *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].del);
		free(c->v[i].add);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static int is_picked(const smp_prune_pick *picks, size_t n, size_t index)
{
	for (size_t i = 0; i < n; i++)
		if (picks[i].index == index)
			return 1;
	return 0;
}

/*
 * The changes that delete the picked values, one smp_change per attribute form. With
 * for_journal, instead an equivalent change whose inverse also restores the order: from the
 * first picked value of each attribute on, delete every value and add back those that stay.
 */
static int changes_build(struct prune_changes *c, const smp_entry *e, const char *default_attr,
			 const smp_prune_pick *picks, size_t n, int for_journal, smp_error *err)
{
	memset(c, 0, sizeof(*c));
	c->v = calloc(e->n_certs + 1, sizeof(*c->v));
	if (c->v == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < e->n_certs; i++) {
		const char *attr = value_attr(e, i, default_attr);
		int picked = is_picked(picks, n, i);
		smp_change *ch = NULL;

		for (size_t k = 0; k < c->n && ch == NULL; k++)
			if (strcmp(c->v[k].attr, attr) == 0)
				ch = &c->v[k];
		if (ch == NULL && !picked)
			continue;  /* nothing picked in this attribute yet */
		if (ch == NULL && (ch = change_for(c, attr, e->n_certs)) == NULL) {
			changes_release(c);
			return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		}
		if (picked || for_journal)
			ch->del[ch->n_del++] = e->certs[i];
		if (!picked && for_journal)
			ch->add[ch->n_add++] = e->certs[i];
	}
	return 0;
}

static void note_status(struct prune_state *st, int status)
{
	/* 69 and 77 say more than 1 */
	if (status > st->status)
		st->status = status;
}

/* The action record for one value: where, what, why, then the certificate's fields. */
static json_t *action_json(const smp_audit_entry *a, const smp_prune_pick *pick,
			   const char *action, const char *message)
{
	const smp_audit_value *v = &a->values[pick->index];
	json_t *obj;

	obj = json_pack("{s:s, s:s, s:s, s:I, s:s?}", "dn", a->entry->dn, "action", action,
			"reason", pick->reason, "index", (json_int_t)pick->index, "attribute",
			v->attr);
	if (obj == NULL)
		return NULL;
	if (message != NULL)
		json_object_set_new(obj, "message", json_string(message));
	if (v->info != NULL)
		json_object_update_new(obj, cli_certinfo_json(v->info));
	else
		json_object_set_new(obj, "sha256", json_string(v->sha256));
	return obj;
}

/* Writes the report of a dry run so that stdout stays a file ldapmodify accepts. */
static void emit_dry(struct prune_state *st, json_t *record, const char *ldif)
{
	struct cli_out tmp;
	char *text = NULL;
	size_t len = 0;
	int bol = 1;

	if (st->out.format == CLI_FMT_JSON) {
		if (ldif != NULL)
			json_object_set_new(record, "ldif", json_string(ldif));
		cli_out_record(&st->out, record);
		return;
	}
	if (st->out.format == CLI_FMT_CSV) {
		cli_out_record(&st->out, record);
		if (ldif != NULL)
			fputs(ldif, stderr);
		return;
	}
	tmp = st->out;
	tmp.fp = open_memstream(&text, &len);
	if (tmp.fp == NULL) {
		json_decref(record);
		return;
	}
	cli_out_record(&tmp, record);
	fclose(tmp.fp);
	for (size_t i = 0; i < len; i++) {
		if (bol)
			fputs("# ", st->out.fp);
		fputc(text[i], st->out.fp);
		bol = text[i] == '\n';
	}
	if (!bol)
		fputc('\n', st->out.fp);
	free(text);
	if (ldif != NULL) {
		fputs(ldif, st->out.fp);
		fputc('\n', st->out.fp);
	}
	fflush(st->out.fp);
}

static int ldif_text(char **out, const smp_entry *e, const struct prune_changes *c,
		     size_t n_picks, smp_error *err)
{
	char comment[96];
	size_t len = 0;
	FILE *fp;
	int r;

	*out = NULL;
	snprintf(comment, sizeof(comment), "smimepub prune: would remove %zu certificate%s",
		 n_picks, n_picks == 1 ? "" : "s");
	fp = open_memstream(out, &len);
	if (fp == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	r = smp_ldif_write_modify(fp, e->dn, c->v, c->n, comment, err);
	if (fclose(fp) != 0 && r == 0)
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	if (r != 0) {
		free(*out);
		*out = NULL;
	}
	return r;
}

static const char *failure_reason(int code)
{
	switch (code) {
	case SMP_ERR_ACCESS: return "insufficient_access";
	case SMP_ERR_UNAVAILABLE: return "unavailable";
	case SMP_ERR_CONFLICT: return "conflict";
	case SMP_ERR_NOTFOUND: return "not_found";
	default: return "failed";
	}
}

static void report_failure(struct prune_state *st, const char *dn, int code, const char *msg)
{
	cli_out_record(&st->out, json_pack("{s:s, s:s, s:s, s:s}", "dn", dn, "action", "failed",
					   "reason", failure_reason(code), "message", msg));
	st->failed_entries++;
	note_status(st, code == SMP_ERR_ACCESS || code == SMP_ERR_UNAVAILABLE ?
				smp_exit_status(code) : 1);
	if (code == SMP_ERR_UNAVAILABLE)
		st->stop = 1;
}

/* Audits e and chooses what to remove. *a and *picks are the caller's to free. */
static int plan_entry(struct prune_state *st, const smp_entry *e, smp_audit_entry **a,
		      smp_prune_pick **picks, size_t *n, smp_error *err)
{
	int r;

	*picks = NULL;
	*n = 0;
	r = smp_audit_entry_run(a, e, st->trust, err);
	if (r != 0)
		return r;
	r = smp_audit_prune_select(picks, n, *a, &st->sel, err);
	if (r != 0) {
		smp_audit_entry_free(*a);
		*a = NULL;
	}
	return r;
}

static void report_dry(struct prune_state *st, const smp_entry *e, const smp_audit_entry *a,
		       const smp_prune_pick *picks, size_t n)
{
	struct prune_changes c;
	char *ldif = NULL;
	smp_error err = SMP_ERROR_INIT;

	if (changes_build(&c, e, smp_dir_profile(st->dir)->cert_attr, picks, n, 0, &err) != 0 ||
	    ldif_text(&ldif, e, &c, n, &err) != 0) {
		report_failure(st, e->dn, err.code, err.msg);
		changes_release(&c);
		return;
	}
	for (size_t i = 0; i < n; i++)
		emit_dry(st, action_json(a, &picks[i], "would_remove", NULL), i == 0 ? ldif : NULL);
	st->removed += n;
	free(ldif);
	changes_release(&c);
}

/* Reads dn again, re-plans and applies one modify; on a conflict once more. */
static void prune_entry(struct prune_state *st, const char *dn)
{
	smp_entry *e = NULL;
	smp_audit_entry *a = NULL;
	smp_prune_pick *picks = NULL;
	struct prune_changes c = { NULL, 0 };
	size_t n = 0;
	smp_error err = SMP_ERROR_INIT;
	int r = SMP_ERR_INTERNAL;

	for (int attempt = 0; attempt < 2; attempt++) {
		smp_entry_free(e);
		smp_audit_entry_free(a);
		free(picks);
		changes_release(&c);
		e = NULL;
		a = NULL;
		picks = NULL;
		smp_error_clear(&err);
		r = smp_dir_read(st->dir, dn, &e, &err);
		if (r == SMP_ERR_NOTFOUND) {
			r = 0;  /* deleted meanwhile: nothing left to prune */
			goto out;
		}
		if (r != 0)
			goto out;
		r = plan_entry(st, e, &a, &picks, &n, &err);
		if (r != 0 || n == 0)
			goto out;
		r = changes_build(&c, e, smp_dir_profile(st->dir)->cert_attr, picks, n, 1, &err);
		if (r != 0)
			goto out;
		if (st->journal == NULL &&
		    (r = smp_journal_open(&st->journal, st->o->journal, &err)) != 0)
			goto out;
		r = smp_journal_record(st->journal, e->dn, c.v, c.n, &err);
		changes_release(&c);
		if (r == 0)
			r = changes_build(&c, e, smp_dir_profile(st->dir)->cert_attr, picks, n, 0,
					  &err);
		if (r != 0)
			goto out;
		r = smp_dir_modify(st->dir, e->dn, c.v, c.n, &err);
		if (r != SMP_ERR_CONFLICT)
			break;
	}
	if (r != 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		cli_out_record(&st->out, action_json(a, &picks[i], "removed", NULL));
	st->removed += n;
out:
	if (r != 0) {
		if (r == SMP_ERR_CONFLICT)
			smp_error_set(&err, r, "cannot modify '%s': it changed again while being "
				      "pruned; run prune again", dn);
		report_failure(st, dn, r, err.msg[0] ? err.msg : "cannot prune");
	}
	changes_release(&c);
	free(picks);
	smp_audit_entry_free(a);
	smp_entry_free(e);
}

static int walk_one(const smp_entry *e, void *ctx)
{
	struct prune_state *st = ctx;
	smp_audit_entry *a = NULL;
	smp_prune_pick *picks = NULL;
	size_t n = 0;
	int r;

	st->entries++;
	cli_progress_update(&st->progress, st->entries, 0);
	r = plan_entry(st, e, &a, &picks, &n, &st->err);
	if (r != 0)
		return r;
	if (n > 0) {
		if (st->o->dry_run) {
			report_dry(st, e, a, picks, n);
		} else if (fwrite(e->dn, 1, strlen(e->dn) + 1, st->spool) != strlen(e->dn) + 1) {
			r = smp_error_set(&st->err, SMP_ERR_INTERNAL,
					  "cannot write the list of entries to prune to a "
					  "temporary file");
		} else {
			st->spooled++;
		}
	}
	free(picks);
	smp_audit_entry_free(a);
	return r;
}

static void on_referral(const char *url, void *ctx)
{
	struct prune_state *st = ctx;

	cli_warn(st->o, "the server referred part of the search to '%s'; it was not followed: "
		 "prune that directory separately", url);
}

/* Changes every spooled entry, reading the DNs back one at a time. */
static int prune_spooled(struct prune_state *st)
{
	char *dn = NULL;
	size_t cap = 0, done = 0;
	ssize_t len;

	if (fflush(st->spool) != 0 || fseek(st->spool, 0, SEEK_SET) != 0)
		return smp_error_set(&st->err, SMP_ERR_INTERNAL,
				     "cannot read back the list of entries to prune");
	cli_progress_start(&st->progress, st->o, "prune: removing");
	while (!st->stop && (len = getdelim(&dn, &cap, '\0', st->spool)) > 0) {
		prune_entry(st, dn);
		cli_progress_update(&st->progress, ++done, st->spooled);
	}
	cli_progress_end(&st->progress);
	free(dn);
	return 0;
}

static void report_summary(struct prune_state *st)
{
	char *msg = NULL;

	if (st->o->quiet)
		return;
	if (asprintf(&msg, "%zu entries checked, %zu certificates %s, %zu entries failed",
		     st->entries, st->removed, st->o->dry_run ? "would be removed" : "removed",
		     st->failed_entries) < 0)
		msg = NULL;
	if (st->out.format == CLI_FMT_TEXT) {
		/* a dry run's stdout stays a file ldapmodify accepts */
		fprintf(st->out.fp, "%s%s\n", st->o->dry_run ? "# " : "summary: ", msg ? msg : "");
		fflush(st->out.fp);
	} else {
		cli_out_record(&st->out,
			       json_pack("{s:s, s:I, s:I, s:I, s:s?}", "type", "summary", "entries",
					 (json_int_t)st->entries, st->o->dry_run ? "would_remove" :
					 "removed", (json_int_t)st->removed, "failed",
					 (json_int_t)st->failed_entries, "message", msg));
	}
	free(msg);
}

int cmd_prune(struct cli_opts *o)
{
	struct prune_state st;
	smp_prune_sel sel = SMP_PRUNE_SEL_INIT;
	int r;

	memset(&st, 0, sizeof(st));
	st.o = o;
	cli_out_init(&st.out, o, stdout);
	if (o->nargs > 0) {
		cli_error("prune takes no arguments (unexpected '%s'): narrow it with -b BASE",
			  o->args[0]);
		return 64;
	}
	if (o->from_ldif != NULL) {
		cli_error("prune works on a directory, not on '%s': use audit --from-ldif to check "
			  "an export", o->from_ldif);
		return 64;
	}
	if (!o->prune_expired_sel && !o->prune_untrusted && !o->prune_superseded) {
		cli_error("--select chose nothing to prune: use expired, untrusted, superseded");
		return 64;
	}
	sel.expired = o->prune_expired_sel;
	sel.untrusted = o->prune_untrusted;
	sel.revoked = o->prune_untrusted && o->trust.crl_file != NULL;
	sel.superseded = o->prune_superseded;
	sel.malformed = 0;
	st.sel = sel;
	if ((r = cli_trust(&st.trust, o, &st.err)) != 0) {
		cli_error("%s", st.err.msg);
		return smp_exit_status(r);
	}
	if ((r = cli_connect(&st.dir, o, &st.err)) != 0) {
		cli_error("%s", st.err.msg);
		st.status = smp_exit_status(r);
		goto out;
	}
	if (!o->dry_run && (st.spool = tmpfile()) == NULL) {
		cli_error("cannot create a temporary file for the list of entries to prune");
		st.status = 1;
		goto out;
	}
	cli_progress_start(&st.progress, o, "prune: checking");
	r = smp_dir_walk(st.dir, walk_one, on_referral, &st, &st.err);
	cli_progress_end(&st.progress);
	if (r != 0) {
		cli_error("prune stopped: %s", st.err.msg[0] ? st.err.msg : "unknown error");
		note_status(&st, r < 0 ? smp_exit_status(r) : 1);
		if (st.status == 0)
			st.status = 1;
	}
	/* what the walk found before it stopped is still pruned */
	if (!o->dry_run && st.spooled > 0 &&
	    (r = smp_journal_open(&st.journal, o->journal, &st.err)) != 0) {
		cli_error("%s: nothing was changed", st.err.msg);
		note_status(&st, smp_exit_status(r));
	} else if (!o->dry_run && st.spooled > 0 && prune_spooled(&st) != 0) {
		cli_error("%s", st.err.msg);
		note_status(&st, 1);
	}
	report_summary(&st);
out:
	if (st.spool != NULL)
		fclose(st.spool);
	smp_journal_close(st.journal);
	smp_dir_close(st.dir);
	smp_trust_free(st.trust);
	return st.status;
}
