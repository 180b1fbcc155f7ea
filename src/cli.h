/* smimepub command line: options shared by every command, output, and the command table. */
#ifndef SMIMEPUB_CLI_H
#define SMIMEPUB_CLI_H

#include <stdio.h>

#include <jansson.h>

#include "smimepub/cert.h"
#include "smimepub/dir.h"
#include "smimepub/engine.h"
#include "smimepub/error.h"
#include "smimepub/plan.h"

/* audit's own formats come after CSV */
enum cli_format {
	CLI_FMT_TEXT = 0, CLI_FMT_JSON, CLI_FMT_CSV, CLI_FMT_HTML, CLI_FMT_NAGIOS, CLI_FMT_PROMETHEUS
};

/* Everything the command line and the configuration file said. Strings borrowed from argv/config. */
struct cli_opts {
	/* connection (SPEC §2) */
	smp_conn_options conn;
	const char *password_file;   /* -y */
	int prompt_password;         /* -W */
	int allow_open_password_file; /* --allow-open-password-file: skip the mode check of -y */
	int reconnects;              /* the command may reconnect: keep the password until close */

	/* trust */
	smp_trust_options trust;

	/* output */
	enum cli_format format;
	int format_set;
	const char *output;          /* --output: audit's report file */
	int per_certificate;         /* --per-certificate: audit's expiry series per value */
	/* serve */
	const char *listen;          /* --listen ADDRESS:PORT */
	const char *tls_cert, *tls_key;
	int idle_timeout;            /* --idle-timeout: seconds (default 900) */
	const char *login_attribute; /* --login-attribute: names that are not DNs, looked up */
	int nagios_short;            /* -w or -c given (only with --format nagios) */
	int crit_days_set;           /* --crit-days given (audit's default is 7) */
	int quiet;
	int verbose;
	int progress;                /* stderr is a terminal and not -q */

	/* behaviour */
	int dry_run;
	int strict;                  /* inspect: exit 1 on any critical problem */
	smp_policy policy;           /* --add --replace --prune-expired --force */
	int create_contact;
	const char *ou;
	const char *journal;
	const char *from_ldif;
	const char *files_from;
	smp_remove_sel remove;       /* --fingerprint --expired --all */
	int remove_as_dn;            /* remove --dn: every argument is a DN */
	int prune_expired_sel;       /* prune: --expired */
	int prune_untrusted;         /* prune: --untrusted-only */
	int prune_superseded;        /* prune: --superseded */
	int allow_from_mismatch;     /* harvest */
	int publish_intermediates;   /* harvest */
	const char *imap_password_file; /* harvest imap[s]:// (SPEC §9) */
	const char *imap_token_file;
	const char *imap_ca_file;
	const char *done_folder, *failed_folder;
	int watch;                   /* --watch SECONDS, 0: once */
	size_t max_message_size;     /* 0: SMP_IMAP_MAX_SIZE_DEFAULT */
	int jobs;                    /* operations in flight for bulk publish */
	int jobs_set;                /* --jobs given: it bounds the adaptive window */
	smp_undo_options undo;       /* --last --since --record */
	const char **undo_records;   /* --record, each (argv strings) */
	size_t n_undo_records;
	int undo_list;               /* --list */
	int ca_root;                 /* ca publish --root */
	const char *ca_base;         /* --ca-base */

	/* positional arguments after the command name */
	char **args;
	int nargs;
};

/* One result record: commands build a JSON object and hand it to the output layer. */
struct cli_out {
	enum cli_format format;
	FILE *fp;
	int csv_header_done;
	int quiet;
	int verbose;
	int hold;                    /* set: cli_out_record does not flush; the caller does */
	int index_legend_done;       /* text: CLI_INDEX_LEGEND was printed */
	const char *const *columns;  /* CSV columns, or NULL: the common ones */
};

/* The CSV columns of ca publish / list / remove: the common ones and the CA's place. */
extern const char *const cli_ca_csv_columns[];

/*
 * How every command and format numbers an entry's values (lookup, audit, prune, remove;
 * text, JSON, CSV): said once, in text before the first numbered value, and in the man page.
 */
#define CLI_INDEX_LEGEND "(values are numbered from 0 within each attribute, in the " \
	"directory's order: index 0 is the first value)"

void cli_out_init(struct cli_out *o, const struct cli_opts *opts, FILE *fp);

/*
 * Prints one record (takes ownership of obj). JSON: one line. CSV: the fixed columns
 * (cli_csv_columns). Text: a readable block: what, where, and each problem's message.
 */
void cli_out_record(struct cli_out *o, json_t *obj);

/*
 * The JSON object describing a certificate (SPEC §5 fields: subject, issuer, serial, sha256,
 * emails, not_before, not_after, key, signature, purposes, is_ca, problems). New reference.
 */
json_t *cli_certinfo_json(const smp_certinfo *ci);

/*
 * Writes records that cli_out_record formatted into another stream (a worker's), as they are;
 * for CSV, the header first when none was written yet. Flushes.
 */
void cli_out_bytes(struct cli_out *o, const char *data, size_t len);

/*
 * Replaces path whole: write_fn writes into a temporary file beside it (mode as a new file
 * under the umask), which is flushed to disk and renamed over path, so that a reader (a
 * scrape, a browser) sees the old file or the new one, never half of one. 0, or -1 after
 * saying why (the temporary file removed, path untouched).
 */
int cli_replace_file(const char *path, int (*write_fn)(FILE *fp, void *ctx), void *ctx);

/* Prints "smimepub: " + message to stderr (unless quiet, for warnings). */
/* Before any JSON is built: jansson's allocations are watched (see output.c). */
void cli_json_init(void);

/* The --format spelling of f. */
const char *cli_format_name(enum cli_format f);

void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const struct cli_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));


/* Progress line on stderr (only when opts->progress): call with done/total (total 0 = unknown). */
struct cli_progress {
	const char *what;
	double start;
	double last;
	int active;
	int shown;
};
void cli_progress_start(struct cli_progress *p, const struct cli_opts *o, const char *what);
void cli_progress_update(struct cli_progress *p, size_t done, size_t total);
void cli_progress_end(struct cli_progress *p);

/* Connects and binds per the connection options, reading the password (-y, -W, SMIMEPUB_PASSWORD). */
int cli_connect(smp_dir **out, const struct cli_opts *o, smp_error *err);

/*
 * A password from path (as -y reads it: owner-only unless allow_open, one line), else from the
 * environment variable env (then cleared and removed), in secret memory (smp_secret_free).
 * Returns 0 with *out, NULL when neither gave one; or an error.
 */
int cli_secret(char **out, const char *path, const char *env, int allow_open, smp_error *err);

/* Builds the trust context from the options (--ca-file, --at, ...). */
int cli_trust(smp_trust **out, const struct cli_opts *o, smp_error *err);

/*
 * With --trust directory: reads the CA certificates directory d distributes into t, once,
 * right after the connection is made (before anything is judged); -v says how many, a
 * directory without roots gets a warning. Nothing without directory in --trust. d NULL (no
 * directory to read): SMP_ERR_USAGE. Returns 0 or the error.
 */
int cli_trust_directory(smp_trust *t, smp_dir *d, const struct cli_opts *o, smp_error *err);

/* Commands. Each returns the process exit status. */
int cmd_inspect(struct cli_opts *o);
int cmd_publish(struct cli_opts *o);
int cmd_lookup(struct cli_opts *o);
int cmd_remove(struct cli_opts *o);
int cmd_audit(struct cli_opts *o);
int cmd_prune(struct cli_opts *o);
int cmd_harvest(struct cli_opts *o);
int cmd_undo(struct cli_opts *o);
int cmd_ca(struct cli_opts *o);
int cmd_serve(struct cli_opts *o);

/*
 * The commands' work for one request, shared by the command line and serve: the records
 * --format json would print go to out. cli_lookup_run: one address, on dir (the session's).
 * cli_inspect_run: the files; *critical set when a certificate had a critical problem;
 * failure NULL: a failed input is said on stderr, else its message (the first, malloc'd) is
 * kept there. Both return 0 or a negative smp_err code.
 */
int cli_lookup_run(smp_session *s, smp_dir *dir, struct cli_out *out, const char *address,
		   smp_error *err);
int cli_inspect_run(smp_session *s, struct cli_out *out, const char *const *paths, size_t n,
		    int *critical, char **failure, smp_error *err);

/* The audit of dir with trust, in this process: its JSON records and then its summary record
   into fp. Returns audit's status (0-3; 3 with err set: it could not complete). */
int cli_audit_run(const struct cli_opts *o, smp_dir *dir, smp_trust *trust, FILE *fp,
		  smp_error *err);

#endif
