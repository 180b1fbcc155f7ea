/* smimepub command line: the encoding of what the parent and its analysis workers exchange. */
#include "frame.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* The flags of an smp_certinfo, one bit each in the encoding. */
enum {
	CI_ADDRESS_FROM_CN = 1 << 0,
	CI_CAN_ENCRYPT = 1 << 1,
	CI_CAN_SIGN = 1 << 2,
	CI_EMAIL_PROTECTION = 1 << 3,
	CI_IS_CA = 1 << 4,
	CI_CHAIN_OK = 1 << 5,
};

/* Appends len bytes of data (see frame.h). */
void buf_put(struct buf *b, const void *data, size_t len)
{
	unsigned char *np;
	size_t cap;

	if (b->failed)
		return;
	if (b->len + len > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL) {
			b->failed = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	if (len > 0)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

/* Appends a 32-bit number. */
void buf_u32(struct buf *b, uint32_t v)
{
	buf_put(b, &v, sizeof(v));
}

/* Appends a 64-bit number. */
void buf_u64(struct buf *b, uint64_t v)
{
	buf_put(b, &v, sizeof(v));
}

/* Appends bytes as a length, the bytes and a NUL (see frame.h). */
void buf_bytes(struct buf *b, const void *data, size_t len)
{
	if (len >= UINT32_MAX) {
		b->failed = 1;
		return;
	}
	buf_u32(b, (uint32_t)len);
	buf_put(b, data, len);
	buf_put(b, "", 1);
}

/* Appends a string, or NULL as the length UINT32_MAX. */
void buf_str(struct buf *b, const char *s)
{
	if (s == NULL)
		buf_u32(b, UINT32_MAX);
	else
		buf_bytes(b, s, strlen(s));
}

/* The next len bytes of the frame (see frame.h). */
const void *rd_take(struct rd *r, size_t len)
{
	const void *p;

	if (r->bad || len > r->len - r->off) {
		r->bad = 1;
		return NULL;
	}
	p = r->p + r->off;
	r->off += len;
	return p;
}

/* Reads a number written by buf_u32. */
uint32_t rd_u32(struct rd *r)
{
	const void *p = rd_take(r, sizeof(uint32_t));
	uint32_t v = 0;

	if (p != NULL)
		memcpy(&v, p, sizeof(v));
	return v;
}

/* Reads a number written by buf_u64. */
uint64_t rd_u64(struct rd *r)
{
	const void *p = rd_take(r, sizeof(uint64_t));
	uint64_t v = 0;

	if (p != NULL)
		memcpy(&v, p, sizeof(v));
	return v;
}

/* Reads bytes written by buf_bytes / buf_str, in place (see frame.h). */
const char *rd_bytes(struct rd *r, size_t *len)
{
	uint32_t n = rd_u32(r);
	const char *p;

	*len = 0;
	if (n == UINT32_MAX || r->bad)
		return NULL;
	if ((p = rd_take(r, (size_t)n + 1)) == NULL)
		return NULL;
	if (p[n] != '\0') {
		r->bad = 1;
		return NULL;
	}
	*len = n;
	return p;
}

/* Reads a string written by buf_str, in place; NULL for NULL. */
const char *rd_str(struct rd *r)
{
	size_t len;

	return rd_bytes(r, &len);
}

/* A zeroed array for n elements read from the frame (see frame.h). */
void *rd_array(struct rd *r, size_t n, size_t size)
{
	void *p;

	if (r->bad || n > r->len - r->off) {
		r->bad = 1;
		return NULL;
	}
	if ((p = calloc(n + 1, size)) == NULL)
		r->bad = 1;
	return p;
}

/* Appends one problem: code, severity, message, remedy. */
static void buf_problem(struct buf *b, const smp_problem *p)
{
	buf_str(b, p->code);
	buf_u32(b, (uint32_t)p->severity);
	buf_str(b, p->message);
	buf_u32(b, (uint32_t)p->remedy);
	buf_str(b, p->ca_sha256);
	buf_str(b, p->ca_file);
	buf_u32(b, (uint32_t)p->ca_root);
}

/* Appends the fields of ci (see frame.h). */
void buf_certinfo(struct buf *b, const smp_certinfo *ci)
{
	uint32_t flags = (ci->address_from_cn ? CI_ADDRESS_FROM_CN : 0) |
			 (ci->can_encrypt ? CI_CAN_ENCRYPT : 0) | (ci->can_sign ? CI_CAN_SIGN : 0) |
			 (ci->email_protection ? CI_EMAIL_PROTECTION : 0) |
			 (ci->is_ca ? CI_IS_CA : 0) | (ci->chain_ok ? CI_CHAIN_OK : 0);

	buf_str(b, ci->subject);
	buf_str(b, ci->issuer);
	buf_str(b, ci->issuer_cn);
	buf_str(b, ci->serial);
	buf_str(b, ci->sha256);
	buf_u32(b, (uint32_t)ci->n_emails);
	for (size_t i = 0; i < ci->n_emails; i++)
		buf_str(b, ci->emails[i]);
	buf_u64(b, (uint64_t)(int64_t)ci->not_before);
	buf_u64(b, (uint64_t)(int64_t)ci->not_after);
	buf_str(b, ci->key_type);
	buf_u32(b, (uint32_t)(int32_t)ci->key_bits);
	buf_str(b, ci->signature);
	buf_u32(b, flags);
	buf_str(b, ci->aia_ca_issuers);
	buf_u32(b, (uint32_t)ci->n_problems);
	for (size_t i = 0; i < ci->n_problems; i++)
		buf_problem(b, &ci->problems[i]);
	buf_u32(b, (uint32_t)ci->n_chain);
	for (size_t i = 0; i < ci->n_chain; i++) {
		const smp_chain_ca *c = &ci->chain[i];

		buf_str(b, c->subject);
		buf_str(b, c->name);
		buf_str(b, c->sha256);
		buf_u32(b, (uint32_t)((c->root ? 1 : 0) | (c->anchor ? 2 : 0)));
		buf_u32(b, c->sources);
		buf_str(b, c->file);
	}
}

/* A copy of a string read from the frame into *dst (NULL stays NULL). Returns 0 or NOMEM. */
static int rd_strdup(struct rd *r, char **dst)
{
	const char *s = rd_str(r);

	*dst = NULL;
	if (s != NULL && (*dst = strdup(s)) == NULL)
		return SMP_ERR_NOMEM;
	return 0;
}

/* smp_problems_vadd with its arguments in place. */
static int problems_add(smp_problem **v, size_t *n, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int problems_add(smp_problem **v, size_t *n, const char *code, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = smp_problems_vadd(v, n, code, SMP_REMEDY_NONE, fmt, ap);
	va_end(ap);
	return r;
}

/*
 * Appends the problem (code, severity, message, remedy) read from the frame to *v of *n. The
 * code must be one the library knows, so that it ends up as the library's static string and
 * never points into the frame. Returns 0, SMP_ERR_NOMEM, or SMP_ERR_INTERNAL for an unknown
 * code.
 */
static int rd_problem(struct rd *r, smp_problem **v, size_t *n)
{
	const char *code = rd_str(r);
	uint32_t severity = rd_u32(r);
	const char *message = rd_str(r);
	uint32_t remedy = rd_u32(r);
	const char *ca_sha256 = rd_str(r);
	const char *ca_file = rd_str(r);
	uint32_t ca_root = rd_u32(r);
	smp_problem *p;
	int rc;

	if (r->bad || code == NULL || severity > SMP_SEV_CRITICAL ||
	    remedy > SMP_REMEDY_LAST)
		return SMP_ERR_INTERNAL;
	if ((rc = problems_add(v, n, code, "%s", message != NULL ? message : "")) != 0)
		return rc;
	p = &(*v)[*n - 1];
	p->severity = (smp_severity)severity;
	p->remedy = (smp_remedy)remedy;
	if (message == NULL) {
		free(p->message);
		p->message = NULL;
	}
	if (p->code == code) {
		p->code = "malformed";  /* not interned: never leave a pointer into the frame */
		return SMP_ERR_INTERNAL;
	}
	if ((ca_sha256 != NULL || ca_file != NULL) &&
	    smp_problem_set_ca(p, ca_sha256, ca_file, ca_root != 0) != 0)
		return SMP_ERR_NOMEM;
	return 0;
}

/* Reads an analysis written by buf_certinfo (see frame.h). */
int rd_certinfo(struct rd *r, smp_certinfo **out)
{
	smp_certinfo *ci = NULL;
	const char *s;
	uint32_t flags, n;
	int rc = SMP_ERR_NOMEM;

	*out = NULL;
	if ((ci = calloc(1, sizeof(*ci))) == NULL)
		goto out;
	if ((rc = rd_strdup(r, &ci->subject)) != 0 || (rc = rd_strdup(r, &ci->issuer)) != 0 ||
	    (rc = rd_strdup(r, &ci->issuer_cn)) != 0 || (rc = rd_strdup(r, &ci->serial)) != 0)
		goto out;
	rc = SMP_ERR_INTERNAL;
	if ((s = rd_str(r)) == NULL || strlen(s) >= sizeof(ci->sha256))
		goto out;
	memcpy(ci->sha256, s, strlen(s) + 1);
	n = rd_u32(r);
	if ((ci->emails = rd_array(r, n, sizeof(*ci->emails))) == NULL)
		goto out;
	for (; ci->n_emails < n; ci->n_emails++) {
		if ((s = rd_str(r)) == NULL)
			goto out;
		if ((ci->emails[ci->n_emails] = strdup(s)) == NULL) {
			rc = SMP_ERR_NOMEM;
			goto out;
		}
	}
	ci->not_before = (time_t)(int64_t)rd_u64(r);
	ci->not_after = (time_t)(int64_t)rd_u64(r);
	if ((s = rd_str(r)) == NULL || strlen(s) >= sizeof(ci->key_type))
		goto out;
	memcpy(ci->key_type, s, strlen(s) + 1);
	ci->key_bits = (int)(int32_t)rd_u32(r);
	if ((rc = rd_strdup(r, &ci->signature)) != 0)
		goto out;
	flags = rd_u32(r);
	ci->address_from_cn = (flags & CI_ADDRESS_FROM_CN) != 0;
	ci->can_encrypt = (flags & CI_CAN_ENCRYPT) != 0;
	ci->can_sign = (flags & CI_CAN_SIGN) != 0;
	ci->email_protection = (flags & CI_EMAIL_PROTECTION) != 0;
	ci->is_ca = (flags & CI_IS_CA) != 0;
	ci->chain_ok = (flags & CI_CHAIN_OK) != 0;
	if ((rc = rd_strdup(r, &ci->aia_ca_issuers)) != 0)
		goto out;
	n = rd_u32(r);
	rc = SMP_ERR_INTERNAL;
	if (r->bad || n > r->len - r->off)
		goto out;
	for (uint32_t i = 0; i < n; i++)
		if ((rc = rd_problem(r, &ci->problems, &ci->n_problems)) != 0)
			goto out;
	n = rd_u32(r);
	rc = SMP_ERR_INTERNAL;
	if (r->bad || n > r->len - r->off)
		goto out;
	if (n > 0 && (ci->chain = calloc(n, sizeof(*ci->chain))) == NULL) {
		rc = SMP_ERR_NOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		smp_chain_ca *c = &ci->chain[i];
		uint32_t bits;

		ci->n_chain++;
		if ((rc = rd_strdup(r, &c->subject)) != 0 || (rc = rd_strdup(r, &c->name)) != 0)
			goto out;
		rc = SMP_ERR_INTERNAL;
		if ((s = rd_str(r)) == NULL || strlen(s) >= sizeof(c->sha256))
			goto out;
		memcpy(c->sha256, s, strlen(s) + 1);
		bits = rd_u32(r);
		c->root = (bits & 1) != 0;
		c->anchor = (bits & 2) != 0;
		c->sources = rd_u32(r);
		if ((rc = rd_strdup(r, &c->file)) != 0)
			goto out;
	}
	rc = r->bad ? SMP_ERR_INTERNAL : 0;
out:
	if (rc == SMP_ERR_INTERNAL)
		r->bad = 1;
	if (rc == 0) {
		*out = ci;
		ci = NULL;
	}
	smp_certinfo_free(ci);
	return rc;
}

/* ---- directory entries ------------------------------------------------------------------ */

/* See frame.h. */
void buf_entry(struct buf *b, const smp_entry *e)
{
	buf_str(b, e->dn);
	buf_str(b, e->cn);
	buf_u32(b, (uint32_t)e->n_mail);
	for (size_t i = 0; i < e->n_mail; i++)
		buf_str(b, e->mail[i]);
	buf_u32(b, (uint32_t)e->n_proxy);
	for (size_t i = 0; i < e->n_proxy; i++)
		buf_str(b, e->proxy[i]);
	buf_u32(b, (uint32_t)e->n_certs);
	for (size_t i = 0; i < e->n_certs; i++) {
		buf_bytes(b, e->certs[i].bv_val, e->certs[i].bv_len);
		buf_str(b, e->cert_attrs != NULL ? e->cert_attrs[i] : NULL);
	}
	buf_u32(b, (uint32_t)e->n_smime);
	for (size_t i = 0; i < e->n_smime; i++)
		buf_bytes(b, e->smime[i].bv_val, e->smime[i].bv_len);
}

/* See frame.h. */
void rd_entry_release(smp_entry *e)
{
	free(e->mail);
	free(e->proxy);
	free(e->certs);
	free(e->cert_attrs);
	free(e->smime);
	memset(e, 0, sizeof(*e));
}

/* See frame.h. */
int rd_entry(struct rd *r, smp_entry *e)
{
	size_t len;

	memset(e, 0, sizeof(*e));
	e->dn = (char *)rd_str(r);
	e->cn = (char *)rd_str(r);
	e->n_mail = rd_u32(r);
	if ((e->mail = rd_array(r, e->n_mail, sizeof(*e->mail))) != NULL)
		for (size_t i = 0; i < e->n_mail; i++)
			e->mail[i] = (char *)rd_str(r);
	e->n_proxy = rd_u32(r);
	if ((e->proxy = rd_array(r, e->n_proxy, sizeof(*e->proxy))) != NULL)
		for (size_t i = 0; i < e->n_proxy; i++)
			e->proxy[i] = (char *)rd_str(r);
	e->n_certs = rd_u32(r);
	if ((e->certs = rd_array(r, e->n_certs, sizeof(*e->certs))) != NULL &&
	    (e->cert_attrs = rd_array(r, e->n_certs, sizeof(*e->cert_attrs))) != NULL)
		for (size_t i = 0; i < e->n_certs; i++) {
			e->certs[i].bv_val = (char *)rd_bytes(r, &len);
			e->certs[i].bv_len = len;
			e->cert_attrs[i] = (char *)rd_str(r);
		}
	e->n_smime = rd_u32(r);
	if ((e->smime = rd_array(r, e->n_smime, sizeof(*e->smime))) != NULL)
		for (size_t i = 0; i < e->n_smime; i++) {
			e->smime[i].bv_val = (char *)rd_bytes(r, &len);
			e->smime[i].bv_len = len;
		}
	if (r->bad) {
		rd_entry_release(e);
		return SMP_ERR_INTERNAL;
	}
	return 0;
}

/* ---- audited entries -------------------------------------------------------------------- */

/* n problems, each as buf_problem. */
static void buf_problems(struct buf *b, const smp_problem *p, size_t n)
{
	buf_u32(b, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		buf_problem(b, &p[i]);
}

static int rd_problems(struct rd *r, smp_problem **v, size_t *n)
{
	uint32_t count = rd_u32(r);
	int rc;

	if (r->bad || count > r->len - r->off)
		return SMP_ERR_INTERNAL;
	for (uint32_t i = 0; i < count; i++)
		if ((rc = rd_problem(r, v, n)) != 0)
			return rc;
	return 0;
}

/* n values: index, size, sha256, then the analysis or the problems of a value that is none. */
static void buf_audit_values(struct buf *b, const smp_audit_value *v, size_t n)
{
	buf_u32(b, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		buf_u64(b, v[i].index);
		buf_u64(b, v[i].size);
		buf_str(b, v[i].sha256);
		buf_u32(b, v[i].info != NULL);
		if (v[i].info != NULL)
			buf_certinfo(b, v[i].info);
		buf_problems(b, v[i].problems, v[i].n_problems);
	}
}

/*
 * Reads values written by buf_audit_values into *v / *n (zeroed first); attr is taken from
 * the entry (userCertificate values: the attribute read, smime: "userSMIMECertificate").
 */
static int rd_audit_values(struct rd *r, smp_audit_value **v, size_t *n, const smp_entry *e,
			   int smime)
{
	uint32_t count = rd_u32(r);
	const char *s;
	int rc;

	*v = NULL;
	*n = 0;
	if (count == 0)
		return r->bad ? SMP_ERR_INTERNAL : 0;
	if ((*v = rd_array(r, count, sizeof(**v))) == NULL)
		return SMP_ERR_INTERNAL;
	while (*n < count) {
		/* counted before it is read: a value read in part is freed with the rest */
		smp_audit_value *x = &(*v)[(*n)++];

		x->index = (size_t)rd_u64(r);
		x->size = (size_t)rd_u64(r);
		if ((s = rd_str(r)) == NULL || strlen(s) >= sizeof(x->sha256))
			return SMP_ERR_INTERNAL;
		memcpy(x->sha256, s, strlen(s) + 1);
		if (smime)
			x->attr = "userSMIMECertificate";
		else if (x->index < e->n_certs && e->cert_attrs != NULL)
			x->attr = e->cert_attrs[x->index];
		if (rd_u32(r) != 0 && (rc = rd_certinfo(r, &x->info)) != 0)
			return rc;
		if ((rc = rd_problems(r, &x->problems, &x->n_problems)) != 0)
			return rc;
	}
	return r->bad ? SMP_ERR_INTERNAL : 0;
}

/* Every code smp_clients_pick gives as a pick's why, so that it crosses as a number. */
static const char *const pick_whys[] = {
	NULL, "expired", "not_yet_valid", "revoked", "malformed", "no_encryption",
	"no_email_protection", "address_mismatch", SMP_CLIENT_WHY_NOT_IN_MAIL,
	SMP_CLIENT_WHY_NO_CERT, SMP_CLIENT_WHY_NONE_USABLE, SMP_CLIENT_WHY_EC_KEY,
};

#define N_PICK_WHYS (sizeof(pick_whys) / sizeof(pick_whys[0]))

static uint32_t pick_why_number(const char *why)
{
	for (uint32_t i = 1; why != NULL && i < N_PICK_WHYS; i++)
		if (strcmp(pick_whys[i], why) == 0)
			return i;
	return 0;
}

/* See frame.h. */
void buf_audit_entry(struct buf *b, const smp_audit_entry *a)
{
	buf_str(b, a->address);
	buf_audit_values(b, a->values, a->n_values);
	buf_problems(b, a->entry_problems, a->n_entry_problems);
	buf_audit_values(b, a->smime, a->n_smime);
	for (int c = 0; c < SMP_CLIENT_COUNT; c++) {
		buf_u32(b, (uint32_t)a->picks[c].attr);
		buf_u64(b, a->picks[c].index);
		buf_u64(b, a->picks[c].n_taken);
		buf_u32(b, (uint32_t)a->picks[c].encrypts);
		buf_u32(b, pick_why_number(a->picks[c].why));
	}
}

/* See frame.h. */
int rd_audit_entry(struct rd *r, const smp_entry *e, smp_audit_entry **out)
{
	smp_audit_entry *a;
	const char *s;
	uint32_t why;
	int rc = SMP_ERR_NOMEM;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return SMP_ERR_NOMEM;
	a->entry = e;
	if ((s = rd_str(r)) != NULL && (a->address = strdup(s)) == NULL)
		goto out;
	if ((rc = rd_audit_values(r, &a->values, &a->n_values, e, 0)) != 0 ||
	    (rc = rd_problems(r, &a->entry_problems, &a->n_entry_problems)) != 0 ||
	    (rc = rd_audit_values(r, &a->smime, &a->n_smime, e, 1)) != 0)
		goto out;
	for (int c = 0; c < SMP_CLIENT_COUNT; c++) {
		a->picks[c].attr = (smp_cert_attr)rd_u32(r);
		a->picks[c].index = (size_t)rd_u64(r);
		a->picks[c].n_taken = (size_t)rd_u64(r);
		a->picks[c].encrypts = (int)rd_u32(r);
		why = rd_u32(r);
		a->picks[c].why = why < N_PICK_WHYS ? pick_whys[why] : NULL;
		if (why >= N_PICK_WHYS)
			r->bad = 1;
	}
	rc = r->bad ? SMP_ERR_INTERNAL : 0;
out:
	if (rc == SMP_ERR_INTERNAL)
		r->bad = 1;
	if (rc == 0)
		*out = a;
	else
		smp_audit_entry_free(a);
	return rc;
}
