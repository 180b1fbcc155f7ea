/* smimepub command line: output as aligned text, JSON Lines or CSV (SPEC §5). */
#include "cli.h"
#include "advice.h"
#include "stop.h"
#include "workers.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/x509v3.h>

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("smimepub: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_warn(const struct cli_opts *o, const char *fmt, ...)
{
	va_list ap;

	if (o != NULL && o->quiet)
		return;
	fputs("smimepub: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The SMP_SOURCE_* names, in --trust's words where there is one. */
static json_t *sources_json(unsigned sources)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ SMP_SOURCE_DIRECTORY, "directory" }, { SMP_SOURCE_SYSTEM, "system" },
		{ SMP_SOURCE_FILE, "file" }, { SMP_SOURCE_UNTRUSTED, "untrusted" },
		{ SMP_SOURCE_CARRIED, "carried" },
	};
	json_t *a = json_array();

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (sources & names[i].bit)
			json_array_append_new(a, json_string(names[i].name));
	return a;
}

/* The verified chain's CAs, issuer first, and where each came from. */
static json_t *chain_json(const smp_certinfo *ci)
{
	json_t *a = json_array();

	for (size_t i = 0; i < ci->n_chain; i++) {
		const smp_chain_ca *c = &ci->chain[i];

		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:b, s:b, s:o, s:s?}",
						   "subject", c->subject, "name", c->name,
						   "sha256", c->sha256, "root", c->root,
						   "anchor", c->anchor,
						   "sources", sources_json(c->sources),
						   "file", c->file));
	}
	return a;
}

json_t *cli_certinfo_json(const smp_certinfo *ci)
{
	json_t *obj, *emails, *problems;
	char nb[32], na[32];

	smp_format_time(nb, sizeof(nb), ci->not_before);
	smp_format_time(na, sizeof(na), ci->not_after);
	emails = json_array();
	for (size_t i = 0; i < ci->n_emails; i++)
		json_array_append_new(emails, json_string(ci->emails[i]));
	problems = json_array();
	for (size_t i = 0; i < ci->n_problems; i++)
		json_array_append_new(problems, cli_problem_json(&ci->problems[i], NULL));
	obj = json_pack("{s:s?, s:s?, s:s?, s:s, s:o, s:s, s:s, s:{s:s, s:i}, s:s?, s:{s:b, s:b}, "
			"s:b, s:b, s:o}",
			"subject", ci->subject, "issuer", ci->issuer, "serial", ci->serial,
			"sha256", ci->sha256, "emails", emails, "not_before", nb, "not_after", na,
			"key", "type", ci->key_type, "bits", ci->key_bits,
			"signature", ci->signature,
			"purposes", "encrypt", ci->can_encrypt, "sign", ci->can_sign,
			"is_ca", ci->is_ca, "chain_ok", ci->chain_ok, "problems", problems);
	if (obj != NULL && ci->n_chain > 0)
		json_object_set_new(obj, "chain", chain_json(ci));
	return obj;
}

void cli_out_init(struct cli_out *o, const struct cli_opts *opts, FILE *fp)
{
	memset(o, 0, sizeof(*o));
	o->format = opts->format;
	o->fp = fp;
	o->quiet = opts->quiet;
	o->verbose = opts->verbose;
}

/* ---- CSV (RFC 4180) ---------------------------------------------------------------------- */

static const char *const csv_columns[] = {
	"file", "dn", "index", "attribute", "action", "reason", "subject", "issuer", "serial",
	"sha256", "emails", "not_before", "not_after", "key_type", "key_bits", "signature",
	"encrypt", "sign", "is_ca", "severity", "problems", "message", NULL,
};

/* ca: the same columns and where the CA is, what it is, what chains to it. */
const char *const cli_ca_csv_columns[] = {
	"file", "dn", "index", "attribute", "action", "reason", "subject", "issuer", "serial",
	"sha256", "emails", "not_before", "not_after", "key_type", "key_bits", "signature",
	"encrypt", "sign", "is_ca", "severity", "problems", "message", "container", "ca_kind",
	"chained", NULL,
};

/* The worst severity among a record's problems: "critical", "warning" or "". */
static const char *worst_severity(json_t *problems)
{
	const char *worst = "";
	size_t i;
	json_t *p;

	json_array_foreach(problems, i, p) {
		const char *sev = json_string_value(json_object_get(p, "severity"));

		if (sev != NULL && strcmp(sev, "critical") == 0)
			return "critical";
		if (sev != NULL && strcmp(sev, "warning") == 0)
			worst = "warning";
	}
	return worst;
}

/*
 * One RFC 4180 field. A cell that begins with '=', '+', '-', '@', a tab or a carriage return
 * is a formula to Excel, LibreOffice and Google Sheets (CSV injection: a subject or a
 * directory's mail value is the partner's text, and '=HYPERLINK(...)' or '=cmd|...' would run
 * when an administrator opens the report): as OWASP advises, it gets a leading single quote,
 * which spreadsheets show as text and do not display.
 */
static void csv_field(FILE *fp, const char *s)
{
	int neutralise = *s != '\0' && strchr("=+-@\t\r", *s) != NULL;

	if (strpbrk(s, ",\"\r\n") == NULL) {
		if (neutralise)
			fputc('\'', fp);
		fputs(s, fp);
		return;
	}
	fputc('"', fp);
	if (neutralise)
		fputc('\'', fp);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', fp);
		fputc(*s, fp);
	}
	fputc('"', fp);
}

/* Joins an array of strings (or of objects' "code") with ';'. */
static char *join_array(json_t *arr, const char *key)
{
	size_t i, size = 1;
	json_t *v;
	char *s;

	json_array_foreach(arr, i, v) {
		const char *t = json_is_string(v) ? json_string_value(v)
						 : json_string_value(json_object_get(v, key));
		size += (t ? strlen(t) : 0) + 1;
	}
	if ((s = calloc(1, size)) == NULL)
		return NULL;
	json_array_foreach(arr, i, v) {
		const char *t = json_is_string(v) ? json_string_value(v)
						 : json_string_value(json_object_get(v, key));
		if (i > 0)
			strcat(s, ";");
		if (t)
			strcat(s, t);
	}
	return s;
}

/* The header line, once per output. */
static void csv_header(struct cli_out *o)
{
	const char *const *cols = o->columns != NULL ? o->columns : csv_columns;

	if (!o->csv_header_done) {
		for (size_t i = 0; cols[i]; i++) {
			if (i)
				fputc(',', o->fp);
			fputs(cols[i], o->fp);
		}
		fputs("\r\n", o->fp);
		o->csv_header_done = 1;
	}
}

static void csv_record(struct cli_out *o, json_t *obj)
{
	const char *const *cols = o->columns != NULL ? o->columns : csv_columns;
	char buf[64];

	csv_header(o);
	for (size_t i = 0; cols[i]; i++) {
		const char *col = cols[i];
		json_t *v;
		char *joined = NULL;
		const char *text = "";

		if (i)
			fputc(',', o->fp);
		if (strcmp(col, "key_type") == 0)
			v = json_object_get(json_object_get(obj, "key"), "type");
		else if (strcmp(col, "key_bits") == 0)
			v = json_object_get(json_object_get(obj, "key"), "bits");
		else if (strcmp(col, "encrypt") == 0 || strcmp(col, "sign") == 0)
			v = json_object_get(json_object_get(obj, "purposes"), col);
		else if (strcmp(col, "severity") == 0 &&
			 json_is_string(json_object_get(obj, "severity")))
			v = json_object_get(obj, "severity");  /* a verdict: more than its problems */
		else if (strcmp(col, "severity") == 0)
			v = NULL, text = worst_severity(json_object_get(obj, "problems"));
		else
			v = json_object_get(obj, col);
		if (json_is_string(v))
			text = json_string_value(v);
		else if (json_is_integer(v))
			snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v)), text = buf;
		else if (json_is_boolean(v))
			text = json_is_true(v) ? "true" : "false";
		else if (json_is_array(v))
			text = joined = join_array(v, "code");
		csv_field(o->fp, text ? text : "");
		free(joined);
	}
	fputs("\r\n", o->fp);
}

/* ---- Text -------------------------------------------------------------------------------- */

static const char *str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "";
}

static void text_problems(FILE *fp, json_t *problems, const char *indent)
{
	size_t i;
	json_t *p;

	json_array_foreach(problems, i, p)
			fprintf(fp, "%s%-8s %-20s %s\n", indent, str(p, "severity"), str(p, "code"),
			str(p, "message"));
}

/* One aligned line: addresses, validity, key, purposes, verdict. */
static void text_cert_line(FILE *fp, json_t *obj)
{
	json_t *key = json_object_get(obj, "key");
	json_t *purposes = json_object_get(obj, "purposes");
	json_t *problems = json_object_get(obj, "problems");
	int enc = json_is_true(json_object_get(purposes, "encrypt"));
	int sig = json_is_true(json_object_get(purposes, "sign"));
	char *addr = join_array(json_object_get(obj, "emails"), NULL);
	const char *verdict = "ok";
	char keytext[32], nb[11] = "", na[11] = "";
	size_t i;
	json_t *p;

	json_array_foreach(problems, i, p) {
		if (strcmp(str(p, "severity"), "critical") == 0)
			verdict = "CRITICAL";
		else if (strcmp(verdict, "ok") == 0)
			verdict = "warning";
	}
	strncat(nb, str(obj, "not_before"), 10);
	strncat(na, str(obj, "not_after"), 10);
	snprintf(keytext, sizeof(keytext), "%s %lld", str(key, "type"),
		 (long long)json_integer_value(json_object_get(key, "bits")));
	fprintf(fp, "  %-32s %s..%s  %-9s %-13s %s\n", addr && *addr ? addr : "(no address)", nb,
		na, keytext, enc && sig ? "encrypt+sign" : enc ? "encrypt" : sig ? "sign" : "-",
		verdict);
	free(addr);
}

static void text_details(struct cli_out *o, json_t *obj)
{
	if (!o->verbose || !*str(obj, "sha256"))
		return;
	fprintf(o->fp, "      subject %s\n      issuer  %s\n      sha256  %s\n", str(obj, "subject"),
		str(obj, "issuer"), str(obj, "sha256"));
}

static void text_record(struct cli_out *o, json_t *obj)
{
	FILE *fp = o->fp;
	const char *action = str(obj, "action");
	const char *where = *str(obj, "file") ? str(obj, "file") : str(obj, "dn");
	json_t *problems = json_object_get(obj, "problems");

	/* the numbering base, said once per output, before the first numbered value */
	if (json_is_integer(json_object_get(obj, "index")) && !o->index_legend_done) {
		fprintf(fp, "%s\n", CLI_INDEX_LEGEND);
		o->index_legend_done = 1;
	}
	if (strcmp(str(obj, "type"), "summary") == 0) {
		const char *k;
		json_t *v;
		fprintf(fp, "summary:\n");
		json_object_foreach(obj, k, v) {
			char *dump;
			if (strcmp(k, "type") == 0)
				continue;
			dump = json_is_string(v) ? strdup(json_string_value(v))
						 : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
			fprintf(fp, "  %-20s %s\n", k, dump ? dump : "");
			free(dump);
		}
		return;
	}
	if (*action) {
		fprintf(fp, "%-14s %s", action, where);
		if (*str(obj, "file") && *str(obj, "dn"))
			fprintf(fp, " -> %s", str(obj, "dn"));
		if (*str(obj, "reason"))
			fprintf(fp, "  [%s]", str(obj, "reason"));
		fputc('\n', fp);
	} else {
		fprintf(fp, "%s", where);
		if (*str(obj, "source")) {
			const char *sig = str(obj, "signature");
			fprintf(fp, " (%s", str(obj, "source"));
			if (strcmp(sig, "ok") == 0 || strcmp(sig, "bad") == 0 ||
			    strcmp(sig, "unchecked") == 0)
				fprintf(fp, ", signature %s", sig);
			if (*str(obj, "from"))
				fprintf(fp, ", from %s", str(obj, "from"));
			if (*str(obj, "message_id"))
				fprintf(fp, ", <%s>", str(obj, "message_id"));
			fputc(')', fp);
		} else if (*str(obj, "kind")) {
			fprintf(fp, " (%s message", str(obj, "kind"));
			if (*str(obj, "from"))
				fprintf(fp, ", from %s", str(obj, "from"));
			fputc(')', fp);
		}
		if (*str(obj, "role"))
			fprintf(fp, " [%s]", str(obj, "role"));
		if (json_is_true(json_object_get(obj, "chosen")))
			fprintf(fp, " [chosen by mail clients]");
		fputc('\n', fp);
	}
	if (*str(obj, "message"))
		fprintf(fp, "    %s\n", str(obj, "message"));
	if (*str(obj, "record")) {
		/* the id `smimepub undo --record` takes */
		if (*str(obj, "record_time"))
			fprintf(fp, "    journal record %s of %s\n", str(obj, "record"),
				str(obj, "record_time"));
		else
			fprintf(fp, "    journal record %s\n", str(obj, "record"));
	}
	if (*str(obj, "sha256")) {
		text_cert_line(fp, obj);
		text_details(o, obj);
	}
	text_problems(fp, problems, "    ");
}

/* One JSON line, encoded into a buffer kept for the next record (not a malloc per record). */
static void json_line(FILE *fp, json_t *obj)
{
	static char *buf;
	static size_t cap;
	const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII;
	size_t n = json_dumpb(obj, buf, cap, flags);
	char *grown;

	if (n > cap) {
		if ((grown = realloc(buf, n + 4096)) == NULL) {
			cli_stop_no_memory();
			return;
		}
		buf = grown;
		cap = n + 4096;
		n = json_dumpb(obj, buf, cap, flags);
	}
	if (n == 0 || n > cap) {
		cli_stop_no_memory();  /* json_dumpb could not encode it: out of memory */
		return;
	}
	fwrite(buf, 1, n, fp);
	fputc('\n', fp);
}

/* The record's DNs (dn, candidates) as a person reads them (smp_dn_display). */
static void display_dns(json_t *obj)
{
	json_t *dn = json_object_get(obj, "dn"), *cands = json_object_get(obj, "candidates"), *v;
	size_t i;

	if (json_is_string(dn)) {
		char *d = smp_dn_display(json_string_value(dn));

		if (d != NULL)
			json_object_set_new(obj, "dn", json_string(d));
		free(d);
	}
	json_array_foreach(cands, i, v) {
		char *d = json_is_string(v) ? smp_dn_display(json_string_value(v)) : NULL;

		if (d != NULL)
			json_array_set_new(cands, i, json_string(d));
		free(d);
	}
}

/*
 * A write that failed (EPIPE: the reader of a pipe went away; SIGPIPE is ignored) stops the
 * run between changes as a signal would (stop.h): nothing more can be reported.
 */
static void out_check(struct cli_out *o)
{
	if (ferror(o->fp))
		cli_stop_output_lost();
}

/*
 * jansson tells of a failed allocation only by the NULL of the one call that failed, and its
 * builders (json_object_set_new, json_array_append_new) then leave the value out without a
 * word: a record would be printed with fields missing. So the allocator notes the failure, and
 * a record built after it is not printed; the run stops as for a lost output.
 */
static bool json_out_of_memory;

static void *json_alloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL)
		json_out_of_memory = true;
	return p;
}

void cli_json_init(void)
{
	json_set_alloc_funcs(json_alloc, free);
}

void cli_out_record(struct cli_out *o, json_t *obj)
{
	if (obj == NULL || json_out_of_memory || cli_stop == CLI_STOP_NOMEM) {  /* not whole */
		json_decref(obj);
		cli_stop_no_memory();
		return;
	}
	display_dns(obj);
	switch (o->format) {
	case CLI_FMT_JSON:
		json_line(o->fp, obj);
		break;
	case CLI_FMT_CSV:
		csv_record(o, obj);
		break;
	default:
		text_record(o, obj);
		break;
	}
	if (!o->hold)
		fflush(o->fp);
	out_check(o);
	json_decref(obj);
}

/* Records cli_out_record formatted in another process (see workers.h). */
void cli_out_bytes(struct cli_out *o, const char *data, size_t len)
{
	if (len == 0)
		return;
	if (o->format == CLI_FMT_CSV)
		csv_header(o);
	fwrite(data, 1, len, o->fp);
	fflush(o->fp);
	out_check(o);
}

/* ---- Report files ------------------------------------------------------------------------ */

int cli_replace_file(const char *path, int (*write_fn)(FILE *fp, void *ctx), void *ctx)
{
	char *tmp = NULL;
	FILE *fp = NULL;
	mode_t mask;
	int fd = -1, r = -1, saved;

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		cli_error("cannot write '%s': out of memory", path);
		return -1;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		cli_error("cannot write '%s': cannot create a file beside it: %s", path,
			  strerror(errno));
		free(tmp);
		return -1;
	}
	/* what a plain open(2) would give it: the report is for others to read */
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) != 0 || (fp = fdopen(fd, "w")) == NULL)
		goto fail;
	fd = -1;
	if (write_fn(fp, ctx) != 0 || fflush(fp) != 0 || ferror(fp) || fsync(fileno(fp)) != 0)
		goto fail;
	if (fclose(fp) != 0) {
		fp = NULL;
		goto fail;
	}
	fp = NULL;
	if (rename(tmp, path) != 0)
		goto fail;
	r = 0;
	goto out;
fail:
	saved = errno;
	cli_error("cannot write '%s': %s (the previous file, if any, is unchanged)", path,
		  saved != 0 ? strerror(saved) : "write failed");
	if (fp != NULL)
		fclose(fp);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	free(tmp);
	return r;
}

/* ---- Progress ---------------------------------------------------------------------------- */

static double now_seconds(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

void cli_progress_start(struct cli_progress *p, const struct cli_opts *o, const char *what)
{
	memset(p, 0, sizeof(*p));
	p->what = what;
	p->active = o->progress;
	p->start = p->last = now_seconds();
}

void cli_progress_update(struct cli_progress *p, size_t done, size_t total)
{
	double t, rate;

	if (!p->active)
		return;
	t = now_seconds();
	/* the first update shows at once, then at most five a second */
	if (p->shown && t - p->last < 0.2 && (total == 0 || done < total))
		return;
	p->shown = 1;
	p->last = t;
	rate = t > p->start ? (double)done / (t - p->start) : 0.0;
	if (total > 0 && rate > 0)
		fprintf(stderr, "\r%s: %zu/%zu  %.0f/s  ETA %.0fs   ", p->what, done, total, rate,
			(double)(total - done) / rate);
	else
		fprintf(stderr, "\r%s: %zu  %.0f/s   ", p->what, done, rate);
}

void cli_progress_end(struct cli_progress *p)
{
	if (p->active)
		fputs("\r\033[K", stderr);
	p->active = 0;
}

int cli_trust(smp_trust **out, const struct cli_opts *o, smp_error *err)
{
	return smp_trust_new(out, &o->trust, err);
}

int cli_trust_directory(smp_trust *t, smp_dir *d, const struct cli_opts *o, smp_error *err)
{
	smp_trust_dir_report rep;
	int r;

	if (!(smp_trust_sources(t) & SMP_TRUST_DIRECTORY))
		return 0;
	if (d == NULL)
		return smp_error_set_hint(err, SMP_ERR_USAGE, SMP_HINT_NO_URI, "--trust directory "
					  "needs a directory to read the CA certificates from");
	/* OpenLDAP's container is --ca-base, as ca publish writes it (ca.h) */
	if ((r = smp_trust_load_directory(t, d, o->ca_base, &rep, err)) != 0)
		return r;
	if (o->verbose)
		fprintf(stderr, "smimepub: trust: %zu root(s) and %zu intermediate(s) from the "
			"directory (%s%s%s)\n", rep.anchors, rep.intermediates, rep.roots_dn,
			strcmp(rep.roots_dn, rep.intermediates_dn) != 0 ? ", " : "",
			strcmp(rep.roots_dn, rep.intermediates_dn) != 0 ? rep.intermediates_dn : "");
	if (rep.skipped > 0)
		cli_warn(o, "%zu value(s) in the directory's CA containers are not CA certificates: "
			 "ignored", rep.skipped);
	if (rep.anchors == 0 && !(smp_trust_sources(t) & (SMP_TRUST_SYSTEM | SMP_TRUST_FILE)))
		cli_warn(o, "the directory distributes no root CA (looked in '%s'): with --trust "
			 "directory alone no chain can be trusted; publish the partner's root with "
			 "'smimepub ca publish --root', or add system or file to --trust",
			 rep.roots_dn);
	smp_trust_dir_report_release(&rep);
	return 0;
}
