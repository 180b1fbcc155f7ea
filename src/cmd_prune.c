/* smimepub prune: remove expired, untrusted or superseded certificates across the directory. */
#include <stdlib.h>
#include <string.h>

#include "advice.h"
#include "cli.h"
#include "stop.h"
#include "publish.h"
#include "smimepub/engine.h"

/* The record for one item: where, what, why, the value's place, then the certificate. */
static json_t *prune_json(const smp_item *it)
{
	json_t *obj;

	if (it->cert == NULL && it->value_sha256 == NULL)  /* an entry that could not be pruned */
		return json_pack("{s:s, s:s, s:s?, s:s}", "dn", it->dn, "action", it->action,
				 "reason", it->reason, "message", it->message);
	obj = json_pack("{s:s, s:s, s:s?, s:I, s:s?}", "dn", it->dn, "action", it->action,
			"reason", it->reason, "index", (json_int_t)it->value_index, "attribute",
			it->attribute);
	if (obj == NULL)
		return NULL;
	if (*it->message != '\0')
		json_object_set_new(obj, "message", json_string(it->message));
	if (it->cert != NULL)
		json_object_update_new(obj, cli_certinfo_json(it->cert));
	else
		json_object_set_new(obj, "sha256", json_string(it->value_sha256));
	return obj;
}

/*
 * As cli_emit, except that a text dry run's record without LDIF (an entry's second value and
 * on) is not followed by an empty line: the LDIF stays one change record per entry.
 */
static int prune_item(const smp_item *item, void *ctx)
{
	struct cli_run *run = ctx;
	json_t *record = prune_json(item);
	struct cli_out tmp;
	char *text = NULL;
	size_t len = 0;
	int bol = 1;

	if (!run->o->dry_run || run->out.format != CLI_FMT_TEXT || record == NULL ||
	    run->o->quiet) {
		cli_emit(run, item, record);
		return 0;
	}
	run->status = smp_status_worse(run->status, item->status);
	smp_session_note_status(run->session, item->status);
	tmp = run->out;
	if ((tmp.fp = open_memstream(&text, &len)) == NULL) {
		json_decref(record);
		return 0;
	}
	cli_out_record(&tmp, record);
	run->out.index_legend_done = tmp.index_legend_done;
	fclose(tmp.fp);
	/* stdout stays a file ldapmodify accepts: the report as comments, then the LDIF */
	for (size_t i = 0; i < len; i++) {
		if (bol)
			fputs("# ", run->out.fp);
		fputc(text[i], run->out.fp);
		bol = text[i] == '\n';
	}
	if (!bol)
		fputc('\n', run->out.fp);
	free(text);
	if (item->ldif != NULL) {
		fputs(item->ldif, run->out.fp);
		fputc('\n', run->out.fp);
	}
	fflush(run->out.fp);
	return 0;
}

static void prune_stage(const char *stage, void *ctx)
{
	struct cli_run *run = ctx;

	cli_progress_end(&run->progress);
	if (stage != NULL)
		cli_progress_start(&run->progress, run->o, strcmp(stage, "checking") == 0 ?
				   "prune: checking" : "prune: removing");
}

static void prune_referral(const char *url, void *ctx)
{
	struct cli_run *run = ctx;

	/* AD refers every search from a domain's root there; they hold no recipients */
	if (smp_dir_referral_is_ad_partition(smp_session_dir(run->session), url)) {
		if (run->o->verbose)
			fprintf(stderr, "smimepub: not followed: '%s', one of Active Directory's "
				"configuration and DNS partitions (no recipients)\n", url);
		return;
	}
	cli_warn(run->o, "the server referred part of the search to '%s'; it was not followed: "
		 "prune that directory separately", url);
}

static void prune_summary(struct cli_run *run, const smp_prune_report *rep)
{
	char *msg = NULL;
	char skipped[64] = "";

	if (run->o->quiet)
		return;
	if (rep->skipped > 0)
		snprintf(skipped, sizeof(skipped), ", %zu not done (interrupted)", rep->skipped);
	if (asprintf(&msg, "%zu entries checked, %zu certificates %s, %zu entries failed%s",
		     rep->entries, rep->removed, run->o->dry_run ? "would be removed" : "removed",
		     rep->failed, skipped) < 0) {
		msg = NULL;
		cli_stop_no_memory();  /* the record would not be whole */
	}
	if (run->out.format != CLI_FMT_JSON) {
		/* a dry run's stdout stays a file ldapmodify accepts; CSV holds only rows of
		   values, so its summary goes to stderr */
		FILE *fp = run->out.format == CLI_FMT_CSV ? stderr : run->out.fp;

		fprintf(fp, "%s%s\n", run->o->dry_run && fp != stderr ? "# " : "summary: ",
			msg ? msg : "");
		fflush(fp);
	} else {
		cli_out_record(&run->out,
			       json_pack("{s:s, s:I, s:I, s:I, s:I, s:s?}", "type", "summary",
					 "entries", (json_int_t)rep->entries, run->o->dry_run ?
					 "would_remove" : "removed", (json_int_t)rep->removed,
					 "failed", (json_int_t)rep->failed, "skipped",
					 (json_int_t)rep->skipped, "message", msg));
	}
	free(msg);
}

int cmd_prune(struct cli_opts *o)
{
	smp_prune_options po = SMP_PRUNE_OPTIONS_INIT;
	smp_prune_report rep;
	struct cli_run run;
	smp_trust *trust = NULL;
	smp_dir *dir = NULL;
	smp_error err = SMP_ERROR_INIT;
	int r;

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
	po.sel.expired = o->prune_expired_sel;
	po.sel.untrusted = o->prune_untrusted;
	po.sel.revoked = o->prune_untrusted && o->trust.crl_file != NULL;
	po.sel.superseded = o->prune_superseded;
	po.sel.malformed = 0;
	po.jobs = o->jobs_set ? o->jobs : 0;  /* unset: the defaults, the window finds the pace */
	if ((r = cli_trust(&trust, o, &err)) != 0) {
		cli_error_of(&err);
		return smp_exit_status(r);
	}
	if ((r = cli_connect(&dir, o, &err)) != 0 ||
	    (r = cli_trust_directory(trust, dir, o, &err)) != 0) {
		cli_error_of(&err);
		if (dir != NULL)
			smp_dir_close(dir);
		smp_trust_free(trust);
		return smp_exit_status(r);
	}
	if ((r = cli_run_init(&run, o, dir, trust, "prune")) == 0) {
		po.on_item = prune_item;
		po.on_progress = cli_item_progress;
		po.on_stage = prune_stage;
		po.on_referral = prune_referral;
		po.ctx = &run;
		memset(&rep, 0, sizeof(rep));
		if (smp_prune(run.session, &po, &rep, &err) != 0)
			cli_error_of(&err);
		if (rep.walked)
			prune_summary(&run, &rep);
		r = cli_run_release(&run);
	}
	smp_dir_close(dir);
	smp_trust_free(trust);
	return r;
}
