/*
 * smimepub undo: apply the journal's inverse records, newest first, each only where the entry
 * is still as the change left it (SPEC §2, §4); --list shows the records.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advice.h"
#include "cli.h"
#include "stop.h"
#include "publish.h"

int cli_journal_item(const smp_item *it, void *ctx)
{
	struct cli_run *run = ctx;
	json_t *obj = json_object();
	char *msg = NULL;

	if (obj == NULL)
		return 0;
	json_object_set_new(obj, "dn", it->dn != NULL ? json_string(it->dn) : json_null());
	json_object_set_new(obj, "action", json_string(it->action));
	json_object_set_new(obj, "reason", it->reason != NULL ? json_string(it->reason)
							    : json_null());
	if (asprintf(&msg, "%s by %s", it->source != NULL && *it->source ? it->source : "change",
		     it->message != NULL && *it->message ? it->message : "unknown") < 0) {
		msg = NULL;
		cli_stop_no_memory();  /* the record would not be whole */
	}
	json_object_set_new(obj, "message", json_string(msg != NULL ? msg : ""));
	free(msg);
	json_object_set_new(obj, "command", json_string(it->source != NULL ? it->source : ""));
	json_object_set_new(obj, "by", json_string(it->message != NULL ? it->message : ""));
	json_object_set_new(obj, "record", json_string(it->record));
	json_object_set_new(obj, "record_time", json_string(it->record_time));
	cli_emit(run, it, obj);
	return 0;
}

int cmd_undo(struct cli_opts *o)
{
	struct cli_run run;
	smp_undo_options uo = SMP_UNDO_OPTIONS_INIT;
	smp_dir *dir = NULL;
	smp_error err = SMP_ERROR_INIT;
	int r, selectors;

	selectors = (o->undo.last != 0) + (o->undo.has_since != 0) + (o->n_undo_records > 0);
	if (o->nargs > 0 || (o->undo_list ? selectors != 0 : selectors != 1)) {
		cli_error("usage: smimepub undo with exactly one of --last, --since TIME, "
			  "--record ID... (or --list)");
		return 64;
	}
	if (o->undo_list) {
		/* reading the journal needs no directory */
		cli_run_start(&run, o);
		if ((r = cli_run_open(&run, NULL, NULL, "undo")) != 0)
			return r;
		if ((r = smp_journal_list(run.session, cli_journal_item, &run, &err)) != 0) {
			cli_error_of(&err);
			smp_session_note_status(run.session, smp_exit_status(r));
		}
		return cli_run_release(&run);
	}
	if ((r = cli_connect(&dir, o, &err)) != 0) {
		cli_error_of(&err);
		return smp_exit_status(r);
	}
	if ((r = cli_run_init(&run, o, dir, NULL, "undo")) == 0) {
		uo = o->undo;
		uo.version = SMP_ENGINE_VERSION;
		uo.records = o->undo_records;
		uo.n_records = o->n_undo_records;
		uo.on_item = cli_item_print;
		uo.ctx = &run;
		if ((r = smp_undo(run.session, &uo, &err)) != 0) {
			if (r == SMP_ERR_NOTFOUND)
				cli_error("%s: nothing to undo", err.msg);
			else
				cli_error_of(&err);
			smp_session_note_status(run.session, r == SMP_ERR_NOTFOUND ? 1
							     : smp_exit_status(r));
		}
		r = cli_run_release(&run);
	}
	smp_dir_close(dir);
	return r;
}
