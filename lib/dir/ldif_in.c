/*
 * Reading LDIF exports (ldapsearch -LLL, ldifde -f) into smp_entry records, one at a time.
 *
 * Lines are read and unfolded here, and each logical line is handed to libldap's
 * ldif_parse_line2 (attribute description, value, base64). libldap's ldif_read_record is not
 * used: it follows `include:` lines (opening local files named by the input), silently drops
 * lines that start with a digit, and cannot say which line of a record was wrong.
 */
#include "smimepub/ldif_in.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lber.h>
#include <ldif.h>

enum rstate {
	EXPECT_DN = 0,  /* at the start of a record */
	IN_ENTRY,       /* after dn: */
	SKIP_RECORD,    /* a record that is not an entry and is skipped (ldapsearch's trailer) */
};

struct source {
	FILE *fp;                     /* either a stream ... */
	const unsigned char *mem;     /* ... or memory */
	size_t len;
	size_t pos;
	uint64_t offset;              /* bytes taken so far (from where the walk began) */
};

struct reader {
	struct source src;
	const char *name;             /* for messages; NULL for memory */
	unsigned long lineno;         /* physical lines read */
	char *line;                   /* current physical line */
	size_t line_len;
	size_t line_cap;
	char *logical;                /* current logical (unfolded) line */
	size_t logical_len;
	size_t logical_cap;
	unsigned long logical_lineno;
	uint64_t line_offset;         /* where the current physical line begins */
	uint64_t logical_offset;      /* where the current logical line begins */
	uint64_t record_offset;       /* where the current entry's dn: line begins */
	int have_logical;
	int logical_is_comment;
	size_t record_bytes;
	int records_seen;             /* records ended so far (version: only in the first) */
	enum rstate state;
	smp_entry *entry;
	size_t mail_cap, proxy_cap, certs_cap, smime_cap;
	int (*fn)(const smp_entry *e, void *ctx);
	int (*fn_at)(const smp_entry *e, uint64_t offset, void *ctx);  /* instead of fn */
	void *ctx;
	smp_error *err;
	const char **ad_attr;         /* smp_ldif_walk_origin: set at the first AD-only attribute */
};

/* Attributes only Active Directory has (smp_ldif_walk_origin): one list, the profile's. */
#define ad_only_attrs (smp_profile_ad.export_markers)

static int bad(struct reader *r, unsigned long lineno, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(struct reader *r, unsigned long lineno, const char *fmt, ...)
{
	char what[SMP_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (r->name != NULL)
		return smp_error_set(r->err, SMP_ERR_BADINPUT, "'%s' line %lu: %s", r->name, lineno,
				     what);
	return smp_error_set(r->err, SMP_ERR_BADINPUT, "line %lu: %s", lineno, what);
}

static int nomem(struct reader *r)
{
	return smp_error_set(r->err, SMP_ERR_NOMEM, "out of memory reading LDIF");
}

static int grow(void **buf, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 16;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*buf, ncap * elem);
	if (p == NULL)
		return -1;
	*buf = p;
	*cap = ncap;
	return 0;
}

static int src_getc(struct source *s)
{
	int c;

	if (s->fp != NULL)
		c = getc_unlocked(s->fp);
	else
		c = s->pos < s->len ? s->mem[s->pos++] : EOF;
	s->offset += c != EOF;
	return c;
}

/*
 * Reads one physical line without its line end into r->line. Returns 1 when a line was read,
 * 0 at the end of the input, or a negative code.
 */
static int read_line(struct reader *r)
{
	size_t budget = SMP_LDIF_RECORD_MAX - r->record_bytes;
	int c = EOF;

	r->line_len = 0;
	r->line_offset = r->src.offset;
	while ((c = src_getc(&r->src)) != EOF && c != '\n') {
		if (r->line_len >= budget)
			return bad(r, r->lineno + 1, "record is larger than %u bytes",
				   SMP_LDIF_RECORD_MAX);
		if (grow((void **)&r->line, &r->line_cap, r->line_len + 2, 1) != 0)
			return nomem(r);
		r->line[r->line_len++] = (char)c;
	}
	if (c == EOF && r->src.fp != NULL && ferror(r->src.fp))
		return smp_error_set(r->err, SMP_ERR_NOFILE, "cannot read '%s'",
				     r->name ? r->name : "LDIF");
	if (c == EOF && r->line_len == 0)
		return 0;
	if (grow((void **)&r->line, &r->line_cap, r->line_len + 1, 1) != 0)
		return nomem(r);
	if (r->line_len > 0 && r->line[r->line_len - 1] == '\r')
		r->line_len--;
	r->line[r->line_len] = '\0';
	r->record_bytes += r->line_len + 1;
	r->lineno++;
	return 1;
}

static int push_string(struct reader *r, char ***v, size_t *n, size_t *cap,
		       const struct berval *val)
{
	char *s;

	if (memchr(val->bv_val, '\0', val->bv_len) != NULL)
		return 0;  /* a value with a NUL byte is never used as an address or name */
	if (grow((void **)v, cap, *n + 1, sizeof(**v)) != 0)
		return nomem(r);
	s = strndup(val->bv_val, val->bv_len);
	if (s == NULL)
		return nomem(r);
	(*v)[(*n)++] = s;
	return 0;
}

static int push_value(struct reader *r, struct berval **v, size_t *n, size_t *cap,
		      const struct berval *val)
{
	char *copy;

	if (grow((void **)v, cap, *n + 1, sizeof(**v)) != 0)
		return nomem(r);
	copy = malloc(val->bv_len ? val->bv_len : 1);
	if (copy == NULL)
		return nomem(r);
	memcpy(copy, val->bv_val, val->bv_len);
	(*v)[*n].bv_val = copy;
	(*v)[*n].bv_len = val->bv_len;
	(*n)++;
	return 0;
}

static int push_cert(struct reader *r, const struct berval *type, const struct berval *val)
{
	smp_entry *e = r->entry;
	size_t attrs_cap = r->certs_cap;
	char *attr;

	if (grow((void **)&e->cert_attrs, &attrs_cap, e->n_certs + 1, sizeof(char *)) != 0)
		return nomem(r);
	attr = strndup(type->bv_val, type->bv_len);
	if (attr == NULL)
		return nomem(r);
	if (push_value(r, &e->certs, &e->n_certs, &r->certs_cap, val) != 0) {
		free(attr);
		return SMP_ERR_NOMEM;
	}
	e->cert_attrs[e->n_certs - 1] = attr;
	return 0;
}

/* Whether the attribute description's name (before any ;option) is name, any case. */
static int attr_is(const struct berval *type, const char *name)
{
	size_t len = strlen(name);

	if (type->bv_len < len || strncasecmp(type->bv_val, name, len) != 0)
		return 0;
	return type->bv_len == len || type->bv_val[len] == ';';
}

static int attr_is_exactly(const struct berval *type, const char *name)
{
	return type->bv_len == strlen(name) && strncasecmp(type->bv_val, name, type->bv_len) == 0;
}

static int parse_line(struct reader *r, struct berval *type, struct berval *val)
{
	char *colon;
	char *p;
	const char *name;
	int freeval = 0;
	size_t tlen;

	colon = strchr(r->logical, ':');
	if (colon == NULL)
		return bad(r, r->logical_lineno, "missing ':' after the attribute name");
	for (p = r->logical; p < colon && (*p == ' ' || *p == '\t'); p++)
		;
	name = p;
	tlen = (size_t)(colon - p);
	while (tlen > 0 && (p[tlen - 1] == ' ' || p[tlen - 1] == '\t'))
		tlen--;
	if (tlen == 0)
		return bad(r, r->logical_lineno, "missing attribute name before ':'");
	if (colon[1] == '<')
		return bad(r, r->logical_lineno,
			   "value of '%.*s' is a URL (':<'): refused, values must be inline",
			   (int)(tlen > 64 ? 64 : tlen), name);
	if (colon[1] == ':') {
		for (p = colon + 2; *p == ' '; p++)
			;
		p += strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=");
		p += strspn(p, " ");
		if (*p != '\0')
			return bad(r, r->logical_lineno, "invalid base64 character 0x%02x in the "
				   "value of '%.*s'", (unsigned char)*p, (int)(tlen > 64 ? 64 : tlen),
				   name);
	}
	if (ldif_parse_line2(r->logical, type, val, &freeval) != 0)
		return bad(r, r->logical_lineno, "invalid value of '%.*s' (bad base64?)",
			   (int)(tlen > 64 ? 64 : tlen), name);
	if (freeval) {
		/* only URL values are allocated, and those were refused above */
		ber_memfree(val->bv_val);
		return bad(r, r->logical_lineno, "unexpected value form");
	}
	return 0;
}

static int starts_with_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static int process_logical(struct reader *r)
{
	struct berval type, val;
	smp_entry *e;
	int rc;

	if (!r->have_logical)
		return 0;
	r->have_logical = 0;
	if (r->logical_is_comment || r->state == SKIP_RECORD)
		return 0;
	if (r->state == EXPECT_DN) {
		if (r->records_seen == 0 && starts_with_ci(r->logical, "version:"))
			return 0;
		if (starts_with_ci(r->logical, "search:") || starts_with_ci(r->logical, "result:")) {
			r->state = SKIP_RECORD;
			return 0;
		}
	}
	rc = parse_line(r, &type, &val);
	if (rc != 0)
		return rc;
	if (r->state == EXPECT_DN) {
		if (!attr_is_exactly(&type, "dn"))
			return bad(r, r->logical_lineno, "expected 'dn:' at the start of a record, "
				   "found '%.*s'", (int)(type.bv_len > 64 ? 64 : type.bv_len),
				   type.bv_val);
		if (memchr(val.bv_val, '\0', val.bv_len) != NULL)
			return bad(r, r->logical_lineno, "DN holds a NUL byte");
		r->entry = calloc(1, sizeof(*r->entry));
		if (r->entry == NULL)
			return nomem(r);
		r->entry->dn = strndup(val.bv_val, val.bv_len);
		if (r->entry->dn == NULL)
			return nomem(r);
		r->record_offset = r->logical_offset;
		r->mail_cap = r->proxy_cap = r->certs_cap = r->smime_cap = 0;
		r->state = IN_ENTRY;
		return 0;
	}
	e = r->entry;
	if (attr_is_exactly(&type, "changetype")) {
		if (val.bv_len == 3 && strncasecmp(val.bv_val, "add", 3) == 0)
			return 0;
		return bad(r, r->logical_lineno, "'changetype: %.*s' is a change, not an entry: "
			   "read an export (ldapsearch -LLL, ldifde -f)",
			   (int)(val.bv_len > 32 ? 32 : val.bv_len), val.bv_val);
	}
	if ((attr_is(&type, "userCertificate") || attr_is(&type, "userSMIMECertificate") ||
	     attr_is(&type, "mail") || attr_is(&type, "proxyAddresses")) &&
	    e->n_mail + e->n_proxy + e->n_certs + e->n_smime >= SMP_LDIF_MAX_VALUES)
		return bad(r, r->logical_lineno, "entry '%.200s' has more than %d values of mail, "
			   "proxyAddresses and certificate attributes (a limit): not read", e->dn,
			   SMP_LDIF_MAX_VALUES);
	if (attr_is(&type, "userCertificate"))
		return push_cert(r, &type, &val);
	if (attr_is(&type, "userSMIMECertificate"))
		return push_value(r, &e->smime, &e->n_smime, &r->smime_cap, &val);
	if (attr_is(&type, "mail"))
		return push_string(r, &e->mail, &e->n_mail, &r->mail_cap, &val);
	if (attr_is(&type, "proxyAddresses"))
		return push_string(r, &e->proxy, &e->n_proxy, &r->proxy_cap, &val);
	if (attr_is(&type, "cn") && e->cn == NULL && memchr(val.bv_val, '\0', val.bv_len) == NULL) {
		e->cn = strndup(val.bv_val, val.bv_len);
		if (e->cn == NULL)
			return nomem(r);
	}
	for (size_t i = 0; r->ad_attr != NULL && *r->ad_attr == NULL && ad_only_attrs[i]; i++)
		if (attr_is(&type, ad_only_attrs[i]))
			*r->ad_attr = ad_only_attrs[i];
	return 0;
}

static int end_record(struct reader *r)
{
	int rc = 0;

	rc = process_logical(r);
	if (rc != 0)
		return rc;
	if (r->state == IN_ENTRY) {
		rc = r->fn_at != NULL ? r->fn_at(r->entry, r->record_offset, r->ctx)
				      : r->fn(r->entry, r->ctx);
		smp_entry_free(r->entry);
		r->entry = NULL;
	}
	if (r->state != EXPECT_DN)
		r->records_seen++;
	r->state = EXPECT_DN;
	r->record_bytes = 0;
	return rc;
}

static int start_logical(struct reader *r)
{
	if (grow((void **)&r->logical, &r->logical_cap, r->line_len + 1, 1) != 0)
		return nomem(r);
	memcpy(r->logical, r->line, r->line_len + 1);
	r->logical_len = r->line_len;
	r->logical_lineno = r->lineno;
	r->logical_offset = r->line_offset;
	r->logical_is_comment = r->line[0] == '#';
	r->have_logical = 1;
	return 0;
}

static int continue_logical(struct reader *r)
{
	if (!r->have_logical)
		return bad(r, r->lineno, "continuation line (starting with a space) with no line "
			   "to continue");
	if (r->logical_is_comment)
		return 0;
	if (grow((void **)&r->logical, &r->logical_cap, r->logical_len + r->line_len, 1) != 0)
		return nomem(r);
	memcpy(r->logical + r->logical_len, r->line + 1, r->line_len);  /* with the NUL */
	r->logical_len += r->line_len - 1;
	return 0;
}

static int walk(struct reader *r)
{
	int rc;

	while ((rc = read_line(r)) == 1) {
		if (r->lineno == 1) {
			if (r->line_len >= 2 &&
			    ((r->line[0] == '\xff' && r->line[1] == '\xfe') ||
			     (r->line[0] == '\xfe' && r->line[1] == '\xff')))
				return bad(r, 1, "the file is UTF-16: export without ldifde's -u, "
					   "or convert it to UTF-8 (iconv -f UTF-16)");
			if (r->line_len >= 3 && memcmp(r->line, "\xef\xbb\xbf", 3) == 0) {
				memmove(r->line, r->line + 3, r->line_len - 2);
				r->line_len -= 3;
			}
		}
		if (memchr(r->line, '\0', r->line_len) != NULL)
			return bad(r, r->lineno, "NUL byte in the text");
		if (r->line_len == 0) {
			rc = end_record(r);
		} else if (r->line[0] == ' ') {
			rc = continue_logical(r);
		} else {
			rc = process_logical(r);
			if (rc == 0)
				rc = start_logical(r);
		}
		if (rc != 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	return end_record(r);
}

static int walk_source(struct source *src, const char *name,
		       int (*fn)(const smp_entry *e, void *ctx),
		       int (*fn_at)(const smp_entry *e, uint64_t offset, void *ctx), void *ctx,
		       const char **ad_attr, smp_error *err)
{
	struct reader r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.src = *src;
	r.name = name;
	r.fn = fn;
	r.fn_at = fn_at;
	r.ctx = ctx;
	r.err = err;
	r.ad_attr = ad_attr;
	rc = walk(&r);
	smp_entry_free(r.entry);
	free(r.line);
	free(r.logical);
	return rc;
}

/* See ldif_in.h. */
int smp_ldif_walk_origin(const char *path, int (*fn)(const smp_entry *e, void *ctx), void *ctx,
			 const char **ad_attr, smp_error *err)
{
	struct source src = { 0 };
	FILE *fp;
	int r;

	if (ad_attr != NULL)
		*ad_attr = NULL;
	if (strcmp(path, "-") == 0) {
		src.fp = stdin;
		return walk_source(&src, "standard input", fn, NULL, ctx, ad_attr, err);
	}
	fp = fopen(path, "rb");
	if (fp == NULL)
		return smp_error_set(err, SMP_ERR_NOFILE, "cannot open '%s': %s", path,
				     strerror(errno));
	src.fp = fp;
	r = walk_source(&src, path, fn, NULL, ctx, ad_attr, err);
	fclose(fp);
	return r;
}

/* See ldif_in.h. */
int smp_ldif_walk(const char *path, int (*fn)(const smp_entry *e, void *ctx), void *ctx,
		  smp_error *err)
{
	return smp_ldif_walk_origin(path, fn, ctx, NULL, err);
}

/* See ldif_in.h. */
int smp_ldif_walk_mem(const void *data, size_t len, int (*fn)(const smp_entry *e, void *ctx),
		      void *ctx, smp_error *err)
{
	struct source src = { 0 };

	src.mem = data;
	src.len = len;
	return walk_source(&src, NULL, fn, NULL, ctx, NULL, err);
}

/* See ldif_in.h. */
int smp_ldif_walk_stream(FILE *fp, const char *name,
			 int (*fn)(const smp_entry *e, uint64_t offset, void *ctx), void *ctx,
			 const char **ad_attr, smp_error *err)
{
	struct source src = { 0 };

	if (ad_attr != NULL)
		*ad_attr = NULL;
	src.fp = fp;
	return walk_source(&src, name, NULL, fn, ctx, ad_attr, err);
}

/* Stops the walk of smp_ldif_read_at at its first entry, which it keeps. */
#define FIRST_TAKEN 1

static int take_first(const smp_entry *e, uint64_t offset, void *ctx)
{
	(void)offset;
	return smp_entry_dup(ctx, e) == 0 ? FIRST_TAKEN : SMP_ERR_NOMEM;
}

/* See ldif_in.h. */
int smp_ldif_read_at(FILE *fp, const char *name, uint64_t offset, smp_entry **out,
		     smp_error *err)
{
	struct source src = { 0 };
	int r;

	*out = NULL;
	if (offset > (uint64_t)INT64_MAX || fseeko(fp, (off_t)offset, SEEK_SET) != 0)
		return smp_error_set(err, SMP_ERR_BADINPUT, "cannot read '%s' again at byte %llu",
				     name, (unsigned long long)offset);
	src.fp = fp;
	r = walk_source(&src, name, NULL, take_first, out, NULL, err);
	if (r == FIRST_TAKEN)
		return 0;
	if (r == SMP_ERR_NOMEM)
		return smp_error_set(err, r, "out of memory");
	if (r == 0)
		r = smp_error_set(err, SMP_ERR_BADINPUT, "'%s' holds no entry at byte %llu any more: "
				  "it changed while it was read", name, (unsigned long long)offset);
	return r;
}
