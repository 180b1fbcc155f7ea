/* smimepub command line: option checks, the session and item rendering publish, harvest and remove share. */
#include "publish.h"

#include "advice.h"
#include "stop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int pub_check_policy(const struct cli_opts *o, const char *command)
{
	if (o->from_ldif != NULL && !o->dry_run) {
		cli_error("%s --from-ldif needs --dry-run: an LDIF export can be planned "
			  "against, not written; %s to a directory to change it", command, command);
		return 64;
	}
	if (o->from_ldif != NULL && strcmp(o->from_ldif, "-") == 0) {
		int stdin_taken = o->files_from != NULL && strcmp(o->files_from, "-") == 0;

		for (int i = 0; i < o->nargs && !stdin_taken; i++)
			stdin_taken = strcmp(o->args[i], "-") == 0;
		if (stdin_taken) {
			cli_error("--from-ldif - and an input '-' cannot both read standard input");
			return 64;
		}
	}
	if (o->policy.add && o->policy.replace) {
		cli_error("--add and --replace exclude each other: --add keeps the other "
			  "certificates, --replace removes the ones for the same address");
		return 64;
	}
	if (o->ou != NULL && !o->create_contact) {
		cli_error("--ou only applies with --create-contact");
		return 64;
	}
	return 0;
}

int pub_open_dir(smp_dir **dir, const struct cli_opts *o, smp_error *err)
{
	int r;

	if (o->from_ldif == NULL)
		return cli_connect(dir, o, err); /* prints the connection's warning */
	r = smp_dir_open_ldif(dir, o->from_ldif, o->conn.schema, o->conn.base, err);
	if (r == 0 && smp_dir_warning(*dir) != NULL)
		cli_warn(o, "%s%s", smp_dir_warning(*dir), cli_hint(smp_dir_warning_hint(*dir)));
	return r;
}

/*
 * The test hook: runs the shell command in $SMIMEPUB_TEST_BEFORE_MODIFY with dn in
 * SMIMEPUB_TEST_DN, just before a modify of that entry is sent: how the tests put a second
 * writer between read and modify, deterministically.
 */
static void test_before_modify(const char *dn, void *ctx)
{
	const char *cmd = getenv("SMIMEPUB_TEST_BEFORE_MODIFY");
	int status = 0;
	pid_t pid;

	(void)ctx;
	if (cmd == NULL || *cmd == '\0')
		return;
	fflush(NULL);
	if (setenv("SMIMEPUB_TEST_DN", dn, 1) != 0)
		return;
	/* not system(): it ignores SIGINT while the hook runs, and the signal tests send one */
	if ((pid = fork()) == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		cli_error("the test hook before the modify of '%s' failed", dn);
}

static void run_notice(const char *message, void *ctx)
{
	struct cli_run *run = ctx;

	if (run->o->verbose)
		cli_warn(run->o, "%s", message);
}

static void run_warning(const char *message, void *ctx)
{
	struct cli_run *run = ctx;

	cli_warn(run->o, "%s", message);
}

void cli_run_start(struct cli_run *run, const struct cli_opts *o)
{
	memset(run, 0, sizeof(*run));
	run->o = o;
	cli_out_init(&run->out, o, stdout);
}

int cli_run_open(struct cli_run *run, smp_dir *dir, const smp_trust *trust, const char *command)
{
	smp_session_options so = SMP_SESSION_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	int r;

	so.dir = dir;
	so.trust = trust;
	so.journal = run->o->journal;
	so.dry_run = run->o->dry_run;
	so.command = command;
	if (dir != NULL && run->actor == NULL && (run->actor = smp_dir_identity(dir)) == NULL) {
		cli_error("out of memory");  /* a journal record must say who made the change */
		return 1;
	}
	so.actor = run->actor;
	so.notice = run_notice;
	so.warning = run_warning;
	if (getenv("SMIMEPUB_TEST_BEFORE_MODIFY") != NULL)
		so.before_modify = test_before_modify;
	so.ctx = run;
	so.cancel = &cli_stop;  /* SIGINT, SIGTERM, a closed output: stop between changes */
	/* the tests' way to a directory that stays away without waiting a minute */
	if (getenv("SMIMEPUB_TEST_RECONNECT_SECONDS") != NULL)
		so.reconnect_seconds = atoi(getenv("SMIMEPUB_TEST_RECONNECT_SECONDS"));
	if ((r = smp_session_new(&run->session, &so, &err)) != 0) {
		cli_error_of(&err);
		free(run->actor);
		run->actor = NULL;
		return smp_exit_status(r);
	}
	smp_session_note_status(run->session, run->status);
	return 0;
}

int cli_run_init(struct cli_run *run, const struct cli_opts *o, smp_dir *dir,
		 const smp_trust *trust, const char *command)
{
	cli_run_start(run, o);
	return cli_run_open(run, dir, trust, command);
}

int cli_run_release(struct cli_run *run)
{
	int status = run->session != NULL ? smp_session_status(run->session) : run->status;

	smp_session_free(run->session);
	run->session = NULL;
	free(run->actor);
	run->actor = NULL;
	return status;
}

void cli_publish_options(smp_publish_options *po, struct cli_run *run)
{
	smp_publish_options init = SMP_PUBLISH_OPTIONS_INIT;

	*po = init;
	po->policy = run->o->policy;
	po->create_contact = run->o->create_contact;
	po->ou = run->o->ou;
	po->jobs = run->o->jobs_set ? run->o->jobs : 0;  /* unset: the window finds the pace */
	po->on_item = cli_item_print;
	po->on_progress = cli_item_progress;
	po->ctx = run;
}

json_t *cli_item_json(const smp_item *it)
{
	json_t *obj = json_object();
	const char *more = cli_reason_advice(it);

	if (obj == NULL)
		return NULL;
	if (it->source != NULL)
		json_object_set_new(obj, "file", json_string(it->source));
	json_object_set_new(obj, "dn", it->dn != NULL ? json_string(it->dn) : json_null());
	json_object_set_new(obj, "action", json_string(it->action));
	json_object_set_new(obj, "reason", it->reason != NULL ? json_string(it->reason) : json_null());
	if (more != NULL && *it->message != '\0') {
		char *m = NULL;

		if (asprintf(&m, "%s%s", it->message, more) < 0) {
			m = NULL;
			cli_stop_no_memory();  /* the record would not be whole */
		}
		json_object_set_new(obj, "message", json_string(m != NULL ? m : it->message));
		free(m);
	} else {
		json_object_set_new(obj, "message", json_string(it->message));
	}
	if (it->n_candidates > 0) {
		json_t *arr = json_array();
		for (size_t i = 0; i < it->n_candidates; i++)
			json_array_append_new(arr, json_string(it->candidates[i]));
		json_object_set_new(obj, "candidates", arr);
	}
	if (it->created)
		json_object_set_new(obj, "created", json_true());
	if (it->record != NULL)
		json_object_set_new(obj, "record", json_string(it->record));
	if (it->record_time != NULL)
		json_object_set_new(obj, "record_time", json_string(it->record_time));
	if (it->created && it->exchange_recipient >= 0)
		json_object_set_new(obj, "exchange_recipient",
				    json_boolean(it->exchange_recipient == 1));
	if (it->exchange_command != NULL)
		json_object_set_new(obj, "exchange_command", json_string(it->exchange_command));
	if (it->cert != NULL)
		json_object_update_new(obj, cli_certinfo_json(it->cert));
	else if (it->value_sha256 != NULL)
		json_object_set_new(obj, "sha256", json_string(it->value_sha256));
	return obj;
}

void cli_ca_fields(json_t *record, const smp_item *item)
{
	if (item->attribute != NULL) {
		json_object_set_new(record, "attribute", json_string(item->attribute));
		json_object_set_new(record, "index", json_integer((json_int_t)item->value_index));
	}
	if (item->container != NULL)
		json_object_set_new(record, "container", json_string(item->container));
	if (item->ca_kind == NULL)
		return;
	json_object_set_new(record, "ca_kind", json_string(item->ca_kind));
	if (strcmp(item->action, "listed") == 0 ||
	    (item->reason != NULL && strcmp(item->reason, "still_used") == 0))
		json_object_set_new(record, "chained", json_integer(item->chained));
}

/* Writes text to fp with "# " in front of every line. */
static void print_commented(FILE *fp, const char *text, size_t len)
{
	int bol = 1;

	for (size_t i = 0; i < len; i++) {
		if (bol)
			fputs("# ", fp);
		fputc(text[i], fp);
		bol = text[i] == '\n';
	}
	if (!bol)
		fputc('\n', fp);
}

void cli_emit(struct cli_run *run, const smp_item *item, json_t *record)
{
	struct cli_out *out = &run->out;

	run->status = smp_status_worse(run->status, item->status);
	cli_stop_count(item);
	if (run->session != NULL)
		smp_session_note_status(run->session, item->status);
	if (record == NULL)
		return;
	if (run->o->quiet && item->status == 0) {
		/* -q: only what failed or was refused; a text dry run still prints its LDIF */
		json_decref(record);
		if (run->o->dry_run && out->format == CLI_FMT_TEXT && item->ldif != NULL) {
			fputs(item->ldif, out->fp);
			fputc('\n', out->fp);
			fflush(out->fp);
		}
		return;
	}
	if (!run->o->dry_run) {
		cli_out_record(out, record);
		return;
	}
	if (out->format == CLI_FMT_JSON) {
		if (item->ldif != NULL)
			json_object_set_new(record, "ldif", json_string(item->ldif));
		cli_out_record(out, record);
	} else if (out->format == CLI_FMT_CSV) {
		cli_out_record(out, record);
		if (item->ldif != NULL)
			fputs(item->ldif, stderr);
	} else {
		struct cli_out tmp = *out;
		char *text = NULL;
		size_t len = 0;

		/* stdout stays a file ldapmodify accepts: the report as comments, then the LDIF */
		tmp.fp = open_memstream(&text, &len);
		if (tmp.fp == NULL) {
			cli_out_record(out, record);
		} else {
			cli_out_record(&tmp, record);
			out->index_legend_done = tmp.index_legend_done;
			fclose(tmp.fp);
			print_commented(out->fp, text, len);
			free(text);
		}
		if (item->ldif != NULL)
			fputs(item->ldif, out->fp);
		fputc('\n', out->fp);
		fflush(out->fp);
	}
}

int cli_item_print(const smp_item *item, void *ctx)
{
	struct cli_run *run = ctx;

	cli_emit(run, item, cli_item_json(item));
	return 0;
}

void cli_item_progress(size_t done, size_t total, void *ctx)
{
	struct cli_run *run = ctx;

	cli_progress_update(&run->progress, done, total);
}
