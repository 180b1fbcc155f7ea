/*
 * smimepub ca publish | list | remove: partner CA certificates where clients take their trust
 * from (SPEC §6). parse -> options -> engine (lib/exec/ca.c) -> render.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "advice.h"
#include "cli.h"
#include "publish.h"
#include "smimepub/ca.h"

/* As cli_item_print, with the CA's container, kind and what chains to it. */
static int ca_item(const smp_item *item, void *ctx)
{
	struct cli_run *run = ctx;
	json_t *record = cli_item_json(item);

	if (record != NULL)
		cli_ca_fields(record, item);
	cli_emit(run, item, record);
	return 0;
}

/*
 * ca publish --root without --fingerprint, at a terminal: the warning, then the root's
 * fingerprint typed back (not a y/n, so that the choice is the administrator's own reading
 * of the certificate). 1 when it matches.
 */
static int confirm_root(const smp_certinfo *ci, const char *warning, void *ctx)
{
	char line[256];
	size_t k = 0;
	char typed[65];
	FILE *tty;

	(void)ctx;
	if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO) || (tty = fopen("/dev/tty", "r")) == NULL)
		return 0;
	fprintf(stderr, "smimepub: about to publish the root '%s' (SHA-256 %s): %s\n"
		"type its SHA-256 fingerprint to publish it: ", ci->subject, ci->sha256, warning);
	fflush(stderr);
	if (fgets(line, sizeof(line), tty) == NULL) {
		fclose(tty);
		return 0;
	}
	fclose(tty);
	for (const char *p = line; *p != '\0' && *p != '\n' && k < 64; p++)
		if (isxdigit((unsigned char)*p))
			typed[k++] = (char)tolower((unsigned char)*p);
	typed[k] = '\0';
	return strcmp(typed, ci->sha256) == 0;
}

int cmd_ca(struct cli_opts *o)
{
	struct cli_run run;
	smp_trust *trust = NULL;
	smp_dir *dir = NULL;
	smp_error err = SMP_ERROR_INIT;
	const char *sub = o->nargs > 0 ? o->args[0] : "";
	const char *fps[1];
	int r;

	if (strcmp(sub, "publish") == 0 ? o->nargs < 2 :
	    strcmp(sub, "list") == 0 ? o->nargs != 1 :
	    strcmp(sub, "remove") == 0 ? o->nargs != 1 || o->remove.fingerprint == NULL : 1) {
		cli_error("usage: smimepub ca publish FILE... [--root --fingerprint SHA256] | "
			  "ca list | ca remove --fingerprint SHA256");
		return 64;
	}
	if (strcmp(sub, "publish") == 0 && o->remove.fingerprint != NULL && !o->ca_root) {
		cli_error("ca publish: --fingerprint names the root to publish and needs --root");
		return 64;
	}
	if (o->from_ldif != NULL) {
		cli_error("ca: the CA containers are read from a server, not from an LDIF export");
		return 64;
	}
	if ((r = cli_trust(&trust, o, &err)) != 0) {
		cli_error_of(&err);
		return smp_exit_status(r);
	}
	if ((r = cli_connect(&dir, o, &err)) != 0) {
		cli_error_of(&err);
		smp_trust_free(trust);
		return smp_exit_status(r);
	}
	if ((r = cli_run_init(&run, o, dir, trust, "ca")) != 0)
		goto out;
	run.out.columns = cli_ca_csv_columns;
	if (strcmp(sub, "publish") == 0) {
		smp_ca_publish_options po = SMP_CA_PUBLISH_OPTIONS_INIT;

		po.ca_base = o->ca_base;
		po.root = o->ca_root;
		fps[0] = o->remove.fingerprint;
		po.root_fingerprints = fps;
		po.n_root_fingerprints = o->remove.fingerprint != NULL;
		po.confirm_root = o->remove.fingerprint == NULL ? confirm_root : NULL;
		po.force = o->policy.force;
		po.on_item = ca_item;
		po.ctx = &run;
		r = smp_ca_publish_paths(run.session, &po, (const char *const *)o->args + 1,
					 (size_t)o->nargs - 1, &err);
	} else if (strcmp(sub, "list") == 0) {
		smp_ca_list_options lo = SMP_CA_LIST_OPTIONS_INIT;

		lo.ca_base = o->ca_base;
		lo.on_item = ca_item;
		lo.ctx = &run;
		r = smp_ca_list(run.session, &lo, &err);
	} else {
		smp_ca_remove_options ro = SMP_CA_REMOVE_OPTIONS_INIT;

		ro.ca_base = o->ca_base;
		ro.fingerprint = o->remove.fingerprint;
		ro.force = o->policy.force;
		ro.on_item = ca_item;
		ro.ctx = &run;
		r = smp_ca_remove(run.session, &ro, &err);
	}
	if (r != 0) {
		cli_error_of(&err);
		smp_session_note_status(run.session, smp_exit_status(r));
	}
	r = cli_run_release(&run);
out:
	smp_dir_close(dir);
	smp_trust_free(trust);
	return r;
}
