/* Unit tests for LDIF output and the undo journal (lib/exec/journal.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <regex.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <ldap.h>
#include <ldif.h>

#include "smimepub/journal.h"

#define ATTR "userCertificate;binary"
#define DN "cn=Alice Example,ou=Partners,dc=example,dc=test"

/* ---- helpers ------------------------------------------------------------------------------ */

static char tmpdir[4096];

static int setup_tmp(void **state)
{
	const char *base = getenv("TMPDIR");

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/smp-journal-XXXXXX",
		 base != NULL && base[0] != '\0' ? base : "/tmp");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown_tmp(void **state)
{
	char cmd[4200];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long len;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	len = ftell(fp);
	rewind(fp);
	buf = calloc(1, (size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	return buf;
}

/* A value as found in a directory: binary, NUL bytes, every byte value, long lines. */
static struct berval *make_value(unsigned char seed, size_t len)
{
	struct berval *bv = calloc(1, sizeof(*bv));
	size_t i;

	assert_non_null(bv);
	bv->bv_val = malloc(len);
	assert_non_null(bv->bv_val);
	bv->bv_len = len;
	for (i = 0; i < len; i++)
		bv->bv_val[i] = (char)(unsigned char)(seed + i * 7);
	bv->bv_val[0] = 0x30;
	if (len > 3) {
		bv->bv_val[1] = 0x00;
		bv->bv_val[len - 1] = 0x00;
	}
	return bv;
}

static void free_value(struct berval *bv)
{
	free(bv->bv_val);
	free(bv);
}

/* Parsed LDIF records of a file, via libldap's own reader (what ldapmodify uses). */
typedef struct parsed {
	LDIFRecord rec[8];
	char *buf[8];
	size_t n;
} parsed;

static void parse_file(parsed *p, const char *path)
{
	LDIFFP *lfp = ldif_open(path, "r");
	unsigned long lineno = 0;
	char *buf = NULL;
	int buflen = 0;
	struct berval rbuf;

	assert_non_null(lfp);
	memset(p, 0, sizeof(*p));
	while (ldif_read_record(lfp, &lineno, &buf, &buflen) > 0) {
		assert_true(p->n < 8);
		p->buf[p->n] = strdup(buf);
		assert_non_null(p->buf[p->n]);
		rbuf.bv_val = p->buf[p->n];
		rbuf.bv_len = strlen(p->buf[p->n]);
		assert_int_equal(ldap_parse_ldif_record(&rbuf, lineno, &p->rec[p->n], "test", 0),
				 0);
		p->n++;
	}
	ber_memfree(buf);
	ldif_close(lfp);
}

static void parsed_free(parsed *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		ldap_ldif_record_done(&p->rec[i]);
		free(p->buf[i]);
	}
}

/* Asserts that mod m of rec is op on ATTR with exactly the values vals, byte for byte. */
static void assert_mod(const LDIFRecord *rec, size_t m, int op, const char *attr,
		       struct berval *const *vals, size_t n)
{
	LDAPMod *mod;
	size_t i;

	for (i = 0; i < m; i++)
		assert_non_null(rec->lrop_mods[i]);
	mod = rec->lrop_mods[m];
	assert_non_null(mod);
	assert_int_equal(mod->mod_op & ~LDAP_MOD_BVALUES, op);
	assert_string_equal(mod->mod_type, attr);
	for (i = 0; i < n; i++) {
		assert_non_null(mod->mod_bvalues[i]);
		assert_int_equal(mod->mod_bvalues[i]->bv_len, vals[i]->bv_len);
		assert_memory_equal(mod->mod_bvalues[i]->bv_val, vals[i]->bv_val, vals[i]->bv_len);
	}
	assert_null(mod->mod_bvalues[n]);
}

static void assert_n_mods(const LDIFRecord *rec, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		assert_non_null(rec->lrop_mods[i]);
	assert_null(rec->lrop_mods[n]);
}

static char *path_in_tmp(const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
	return p;
}

/* ---- LDIF --------------------------------------------------------------------------------- */

static void test_modify_exact_text(void **state)
{
	static const char want[] =
		"# smimepub dry run\n"
		"dn: " DN "\n"
		"changetype: modify\n"
		"delete: " ATTR "\n"
		ATTR ":: MAMBAP8=\n"
		"-\n"
		"add: " ATTR "\n"
		ATTR ":: MAIFAA==\n"
		"-\n"
		"\n";
	struct berval del = { 5, (char *)"\x30\x03\x01\x00\xff" };
	struct berval add = { 4, (char *)"\x30\x02\x05\x00" };
	smp_change ch = { ATTR, &del, 1, &add, 1 };
	smp_error err = SMP_ERROR_INIT;
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);

	(void)state;
	assert_non_null(mem);
	assert_int_equal(smp_ldif_write_modify(mem, DN, &ch, 1, "smimepub dry run", &err), 0);
	fclose(mem);
	assert_string_equal(text, want);
	free(text);
}

static void test_modify_dn_base64_and_comment(void **state)
{
	struct berval add = { 4, (char *)"\x30\x02\x05\x00" };
	smp_change ch = { "userCertificate", NULL, 0, &add, 1 };
	smp_error err = SMP_ERROR_INIT;
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);

	(void)state;
	assert_non_null(mem);
	assert_int_equal(smp_ldif_write_modify(mem, "cn=J\xc3\xb6rg M\xc3\xbcller,ou=Partners,dc=example,dc=test",
					       &ch, 1, "two\nlines", &err), 0);
	fclose(mem);
	/* one comment line; non-ASCII DN in base64; no delete part when nothing is deleted */
	assert_string_equal(text,
			    "# two lines\n"
			    "dn:: Y249SsO2cmcgTcO8bGxlcixvdT1QYXJ0bmVycyxkYz1leGFtcGxlLGRjPXRlc3Q=\n"
			    "changetype: modify\n"
			    "add: userCertificate\n"
			    "userCertificate:: MAIFAA==\n"
			    "-\n"
			    "\n");
	free(text);
}

static void test_modify_nothing(void **state)
{
	smp_change ch = { ATTR, NULL, 0, NULL, 0 };
	smp_error err = SMP_ERROR_INIT;
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);

	(void)state;
	assert_non_null(mem);
	assert_int_equal(smp_ldif_write_modify(mem, DN, &ch, 1, "x", &err), 0);
	assert_int_equal(smp_ldif_write_modify(mem, DN, NULL, 0, NULL, &err), 0);
	fclose(mem);
	assert_int_equal(len, 0);
	free(text);
}

/* Two attributes in one record: every delete before every add. */
static void test_modify_deletes_first(void **state)
{
	struct berval *a = make_value(1, 40), *b = make_value(2, 50), *c = make_value(3, 60);
	smp_change ch[2] = {
		{ "userCertificate", a, 1, b, 1 },
		{ "userSMIMECertificate", NULL, 0, c, 1 },
	};
	smp_change ch2[2] = {
		{ "userCertificate", NULL, 0, b, 1 },
		{ "userSMIMECertificate", c, 1, NULL, 0 },
	};
	smp_error err = SMP_ERROR_INIT;
	char *path = path_in_tmp("two.ldif");
	FILE *fp = fopen(path, "w");
	parsed p;

	(void)state;
	assert_non_null(fp);
	assert_int_equal(smp_ldif_write_modify(fp, DN, ch, 2, NULL, &err), 0);
	assert_int_equal(smp_ldif_write_modify(fp, DN, ch2, 2, NULL, &err), 0);
	fclose(fp);
	parse_file(&p, path);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.rec[0].lr_op, LDAP_REQ_MODIFY);
	assert_n_mods(&p.rec[0], 3);
	assert_mod(&p.rec[0], 0, LDAP_MOD_DELETE, "userCertificate", &a, 1);
	assert_mod(&p.rec[0], 1, LDAP_MOD_ADD, "userCertificate", &b, 1);
	assert_mod(&p.rec[0], 2, LDAP_MOD_ADD, "userSMIMECertificate", &c, 1);
	assert_n_mods(&p.rec[1], 2);
	assert_mod(&p.rec[1], 0, LDAP_MOD_DELETE, "userSMIMECertificate", &c, 1);
	assert_mod(&p.rec[1], 1, LDAP_MOD_ADD, "userCertificate", &b, 1);
	parsed_free(&p);
	free(path);
	free_value(a);
	free_value(b);
	free_value(c);
}

static void test_add_record(void **state)
{
	static const char *const attrs[] = { "objectClass", "objectClass", "cn", "mail",
					     "userCertificate" };
	struct berval oc1 = { 3, (char *)"top" }, oc2 = { 7, (char *)"contact" };
	struct berval cn = { 6, (char *)"J\xc3\xb6rg M" };
	struct berval mail = { 20, (char *)"jorg@partner.example" };
	struct berval *cert = make_value(9, 1200);
	const struct berval *values[] = { &oc1, &oc2, &cn, &mail, cert };
	struct berval *want_oc[] = { &oc1, &oc2 }, *want_cn[] = { &cn }, *want_mail[] = { &mail };
	smp_error err = SMP_ERROR_INIT;
	char *path = path_in_tmp("add.ldif");
	FILE *fp = fopen(path, "w");
	parsed p;
	char *text;

	(void)state;
	assert_non_null(fp);
	assert_int_equal(smp_ldif_write_add(fp, "cn=J\xc3\xb6rg M,ou=Partners,dc=example,dc=test",
					    attrs, values, 5, "would create", &err), 0);
	fclose(fp);
	text = slurp(path);
	assert_non_null(strstr(text, "changetype: add\n"));
	assert_non_null(strstr(text, "mail: jorg@partner.example\n"));
	free(text);
	parse_file(&p, path);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.rec[0].lr_op, LDAP_REQ_ADD);
	assert_string_equal(p.rec[0].lr_dn.bv_val, "cn=J\xc3\xb6rg M,ou=Partners,dc=example,dc=test");
	assert_n_mods(&p.rec[0], 4);
	assert_mod(&p.rec[0], 0, LDAP_MOD_ADD, "objectClass", want_oc, 2);
	assert_mod(&p.rec[0], 1, LDAP_MOD_ADD, "cn", want_cn, 1);
	assert_mod(&p.rec[0], 2, LDAP_MOD_ADD, "mail", want_mail, 1);
	assert_mod(&p.rec[0], 3, LDAP_MOD_ADD, "userCertificate", &cert, 1);
	parsed_free(&p);
	free(path);
	free_value(cert);
}

/* ---- journal ------------------------------------------------------------------------------ */

/*
 * A forward change written for --dry-run and its journal inverse, both read back with
 * libldap: the values round-trip byte for byte and the inverse restores the order.
 */
static void test_roundtrip_reorder(void **state)
{
	struct berval *x = make_value(10, 1500), *y = make_value(20, 900), *nw = make_value(30, 77);
	struct berval del[2], add[3];
	struct berval *want_del[2], *want_add[3], *inv_del[3], *inv_add[2];
	smp_change ch = { ATTR, del, 2, add, 3 };
	smp_error err = SMP_ERROR_INIT;
	char *fwd = path_in_tmp("forward.ldif");
	char *jpath = path_in_tmp("journal.ldif");
	smp_journal *j = NULL;
	struct stat st;
	FILE *fp;
	parsed p;

	(void)state;
	del[0] = *x;
	del[1] = *y;
	add[0] = *nw;
	add[1] = *y;
	add[2] = *x;
	want_del[0] = x;
	want_del[1] = y;
	want_add[0] = nw;
	want_add[1] = y;
	want_add[2] = x;
	inv_del[0] = nw;
	inv_del[1] = y;
	inv_del[2] = x;
	inv_add[0] = x;
	inv_add[1] = y;

	fp = fopen(fwd, "w");
	assert_non_null(fp);
	assert_int_equal(smp_ldif_write_modify(fp, DN, &ch, 1, NULL, &err), 0);
	fclose(fp);
	parse_file(&p, fwd);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.rec[0].lr_op, LDAP_REQ_MODIFY);
	assert_string_equal(p.rec[0].lr_dn.bv_val, DN);
	assert_n_mods(&p.rec[0], 2);
	assert_mod(&p.rec[0], 0, LDAP_MOD_DELETE, ATTR, want_del, 2);
	assert_mod(&p.rec[0], 1, LDAP_MOD_ADD, ATTR, want_add, 3);
	parsed_free(&p);

	assert_int_equal(smp_journal_open(&j, jpath, &err), 0);
	assert_string_equal(smp_journal_path(j), jpath);
	assert_int_equal(smp_journal_record(j, DN, &ch, 1, &err), 0);
	smp_journal_close(j);
	assert_int_equal(stat(jpath, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	parse_file(&p, jpath);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.rec[0].lr_op, LDAP_REQ_MODIFY);
	assert_string_equal(p.rec[0].lr_dn.bv_val, DN);
	assert_n_mods(&p.rec[0], 2);
	assert_mod(&p.rec[0], 0, LDAP_MOD_DELETE, ATTR, inv_del, 3);
	assert_mod(&p.rec[0], 1, LDAP_MOD_ADD, ATTR, inv_add, 2);
	parsed_free(&p);

	free(fwd);
	free(jpath);
	free_value(x);
	free_value(y);
	free_value(nw);
}

static void test_journal_appends_with_comments(void **state)
{
	struct berval *a = make_value(1, 300), *b = make_value(2, 301);
	smp_change publish = { ATTR, NULL, 0, a, 1 };
	smp_change replace = { ATTR, a, 1, b, 1 };
	smp_change nothing = { ATTR, NULL, 0, NULL, 0 };
	smp_error err = SMP_ERROR_INIT;
	char *jpath = path_in_tmp("append.ldif");
	smp_journal *j = NULL;
	parsed p;
	char *text;
	regex_t re;
	FILE *fp;

	(void)state;
	fp = fopen(jpath, "w");
	assert_non_null(fp);
	fputs("# written before\n\n", fp);
	fclose(fp);

	assert_int_equal(smp_journal_open(&j, jpath, &err), 0);
	assert_int_equal(smp_journal_set_origin(j, "publish", "cn=admin,dc=example,dc=test"), 0);
	assert_int_equal(smp_journal_record(j, DN, &publish, 1, &err), 0);
	assert_int_equal(smp_journal_record(j, DN, &nothing, 1, &err), 0);
	smp_journal_close(j);
	/* a second run appends */
	assert_int_equal(smp_journal_open(&j, jpath, &err), 0);
	assert_int_equal(smp_journal_record(j, DN, &replace, 1, &err), 0);
	assert_int_equal(smp_journal_record_add(j, "cn=New,dc=example,dc=test", &err), 0);
	smp_journal_close(j);

	text = slurp(jpath);
	assert_int_equal(strncmp(text, "# written before\n\n", 18), 0);
	assert_int_equal(regcomp(&re,
				 "^# smimepub record [0-9a-f]{16} "
				 "time=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z "
				 "run=[0-9a-f]{16} command=publish by=cn=admin,dc=example,dc=test\n"
				 "# undo of change to '" DN "'\n"
				 "dn: " DN "\n"
				 "changetype: modify\n"
				 "delete: " ATTR "\n",
				 REG_EXTENDED | REG_NEWLINE), 0);
	assert_int_equal(regexec(&re, text + 18, 0, NULL, 0), 0);
	regfree(&re);
	assert_non_null(strstr(text, "# undo of creation of 'cn=New,dc=example,dc=test'\n"
				     "dn: cn=New,dc=example,dc=test\nchangetype: delete\n"));
	free(text);

	parse_file(&p, jpath);
	assert_int_equal(p.n, 3);
	assert_int_equal(p.rec[0].lr_op, LDAP_REQ_MODIFY);
	assert_n_mods(&p.rec[0], 1);
	assert_mod(&p.rec[0], 0, LDAP_MOD_DELETE, ATTR, &a, 1);
	assert_n_mods(&p.rec[1], 2);
	assert_mod(&p.rec[1], 0, LDAP_MOD_DELETE, ATTR, &b, 1);
	assert_mod(&p.rec[1], 1, LDAP_MOD_ADD, ATTR, &a, 1);
	assert_int_equal(p.rec[2].lr_op, LDAP_REQ_DELETE);
	assert_string_equal(p.rec[2].lr_dn.bv_val, "cn=New,dc=example,dc=test");
	parsed_free(&p);

	free(jpath);
	free_value(a);
	free_value(b);
}

static void test_journal_default_path(void **state)
{
	char *state_home = path_in_tmp("state/deeper");
	char *want = NULL, *dir = NULL;
	smp_journal *j = NULL;
	smp_error err = SMP_ERROR_INIT;
	char *old_xdg = getenv("XDG_STATE_HOME") ? strdup(getenv("XDG_STATE_HOME")) : NULL;
	char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	struct stat st;

	(void)state;
	setenv("XDG_STATE_HOME", state_home, 1);
	assert_int_equal(smp_journal_open(&j, NULL, &err), 0);
	assert_true(asprintf(&want, "%s/smimepub/journal.ldif", state_home) > 0);
	assert_string_equal(smp_journal_path(j), want);
	smp_journal_close(j);
	assert_int_equal(stat(want, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(asprintf(&dir, "%s/smimepub", state_home) > 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	free(want);
	free(dir);

	/* unset or relative XDG_STATE_HOME: under HOME */
	setenv("HOME", tmpdir, 1);
	setenv("XDG_STATE_HOME", "relative/dir", 1);
	assert_int_equal(smp_journal_open(&j, NULL, &err), 0);
	assert_true(asprintf(&want, "%s/.local/state/smimepub/journal.ldif", tmpdir) > 0);
	assert_string_equal(smp_journal_path(j), want);
	smp_journal_close(j);
	free(want);
	unsetenv("XDG_STATE_HOME");
	assert_int_equal(smp_journal_open(&j, NULL, &err), 0);
	assert_true(asprintf(&want, "%s/.local/state/smimepub/journal.ldif", tmpdir) > 0);
	assert_string_equal(smp_journal_path(j), want);
	assert_int_equal(access(want, W_OK), 0);
	smp_journal_close(j);
	free(want);

	if (old_xdg != NULL)
		setenv("XDG_STATE_HOME", old_xdg, 1);
	if (old_home != NULL)
		setenv("HOME", old_home, 1);
	else
		unsetenv("HOME");
	free(old_xdg);
	free(old_home);
	free(state_home);
}

static void test_journal_open_fails(void **state)
{
	char *file = path_in_tmp("plainfile");
	char *bad = NULL;
	smp_journal *j = (smp_journal *)1;
	smp_error err = SMP_ERROR_INIT;
	FILE *fp = fopen(file, "w");

	(void)state;
	assert_non_null(fp);
	fclose(fp);
	assert_true(asprintf(&bad, "%s/sub/journal.ldif", file) > 0);
	assert_int_equal(smp_journal_open(&j, bad, &err), SMP_ERR_NOFILE);
	assert_null(j);
	assert_non_null(strstr(err.msg, file));
	free(bad);
	free(file);
}


/* ---- framing, reading, voiding -------------------------------------------------------------- */

struct seen {
	smp_journal_info r[16];
	char *text[16];
	char id[16][40];
	char undoes[16][40];
	size_t n;
};

static int collect(const smp_journal_info *r, void *ctx)
{
	struct seen *s = ctx;

	assert_true(s->n < 16);
	s->r[s->n] = *r;
	s->text[s->n] = strndup(r->text, r->len);
	snprintf(s->id[s->n], sizeof(s->id[0]), "%s", r->id);
	snprintf(s->undoes[s->n], sizeof(s->undoes[0]), "%s", r->undoes ? r->undoes : "");
	s->r[s->n].text = s->text[s->n];
	s->r[s->n].id = s->id[s->n];
	s->r[s->n].time = s->r[s->n].run = s->r[s->n].command = s->r[s->n].by = NULL;
	s->r[s->n].undoes = NULL;
	s->n++;
	return 0;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->text[i]);
	s->n = 0;
}

static void test_journal_records_are_framed_and_read_back(void **state)
{
	struct berval *a = make_value(1, 900), *b = make_value(2, 901);
	smp_change replace = { ATTR, a, 1, b, 1 };
	smp_error err = SMP_ERROR_INIT;
	char *jpath = path_in_tmp("framed.ldif");
	smp_journal_batch *jb = NULL;
	smp_journal *j = NULL;
	smp_journal_change *ch = NULL;
	struct seen s = { .n = 0 };
	const char *id0, *id1;
	char keep0[40], keep1[40];
	size_t k0, k1;

	(void)state;
	assert_int_equal(smp_journal_open(&j, jpath, &err), 0);
	assert_int_equal(smp_journal_set_origin(j, "undo", "EXAMPLE\\admin with space"), 0);
	assert_int_equal(smp_journal_batch_new(&jb), 0);
	assert_int_equal(smp_journal_batch_add_undo(jb, j, DN, &replace, 1, NULL, &k0, &err), 0);
	assert_int_equal(smp_journal_batch_add_undo(jb, j, DN, &replace, 1, "0123456789abcdef",
						    &k1, &err), 0);
	id0 = smp_journal_batch_record_id(jb, k0);
	id1 = smp_journal_batch_record_id(jb, k1);
	assert_non_null(id0);
	assert_non_null(id1);
	assert_string_not_equal(id0, id1);
	snprintf(keep0, sizeof(keep0), "%s", id0);
	snprintf(keep1, sizeof(keep1), "%s", id1);
	assert_int_equal(smp_journal_batch_commit(j, jb, &err), 0);

	assert_int_equal(smp_journal_walk(jpath, collect, &s, &err), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.r[0].state, SMP_JOURNAL_OK);
	assert_int_equal(s.r[1].state, SMP_JOURNAL_OK);
	assert_string_equal(s.id[0], keep0);
	assert_string_equal(s.id[1], keep1);
	assert_string_equal(s.undoes[0], "");
	assert_string_equal(s.undoes[1], "0123456789abcdef");
	assert_int_equal(s.r[0].offset, 0);
	/* the change parses back exactly: the inverse of the replace */
	assert_int_equal(smp_journal_parse(&ch, s.r[1].text, s.r[1].len, &err), 0);
	assert_int_equal(ch->op, SMP_JOURNAL_MODIFY);
	assert_string_equal(ch->dn, DN);
	assert_int_equal(ch->n_changes, 2);
	assert_int_equal(ch->changes[0].n_del, 1);
	assert_memory_equal(ch->changes[0].del[0].bv_val, b->bv_val, b->bv_len);
	assert_int_equal(ch->changes[1].n_add, 1);
	assert_memory_equal(ch->changes[1].add[0].bv_val, a->bv_val, a->bv_len);
	smp_journal_change_free(ch);
	seen_free(&s);

	/* voided in place: read as voided, and libldap finds nothing to apply in it */
	assert_int_equal(smp_journal_batch_void(j, jb, k0, &err), 0);
	assert_int_equal(smp_journal_walk(jpath, collect, &s, &err), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.r[0].state, SMP_JOURNAL_VOIDED);
	assert_string_equal(s.id[0], keep0);
	assert_int_equal(s.r[1].state, SMP_JOURNAL_OK);
	assert_int_equal(smp_journal_parse(&ch, s.r[0].text, s.r[0].len, &err), SMP_ERR_BADINPUT);
	seen_free(&s);

	smp_journal_batch_free(jb);
	smp_journal_close(j);
	free(jpath);
	free_value(a);
	free_value(b);
}

/*
 * A journal cut at every length (a crash or a full disk mid-write): every record read back as
 * OK is one that was written whole, the cut one is torn or absent, never OK.
 */
static void test_journal_cut_anywhere_is_never_ok(void **state)
{
	struct berval *a = make_value(3, 200), *b = make_value(4, 150);
	smp_change replace = { ATTR, a, 1, b, 1 };
	smp_error err = SMP_ERROR_INIT;
	char *jpath = path_in_tmp("whole.ldif"), *cut = path_in_tmp("cut.ldif");
	smp_journal *j = NULL;
	struct seen s = { .n = 0 };
	char *text;
	size_t len, first_end;

	(void)state;
	assert_int_equal(smp_journal_open(&j, jpath, &err), 0);
	assert_int_equal(smp_journal_record(j, DN, &replace, 1, &err), 0);
	assert_int_equal(smp_journal_record(j, DN, &replace, 1, &err), 0);
	smp_journal_close(j);
	text = slurp(jpath);
	len = strlen(text);
	first_end = (size_t)(strstr(text, "\n\n") - text) + 2;
	for (size_t at = 0; at < len; at++) {
		FILE *fp = fopen(cut, "wb");
		size_t ok = 0, torn = 0;

		assert_non_null(fp);
		assert_int_equal(fwrite(text, 1, at, fp), at);
		fclose(fp);
		assert_int_equal(smp_journal_walk(cut, collect, &s, &err), 0);
		for (size_t i = 0; i < s.n; i++) {
			if (s.r[i].state == SMP_JOURNAL_OK)
				ok++;
			else if (s.r[i].state == SMP_JOURNAL_TORN)
				torn++;
			else
				fail_msg("cut at %zu: record %zu is neither ok nor torn", at, i);
		}
		/* the first record is whole once its digest is: the newlines after it may be cut */
		assert_int_equal(ok, (at >= first_end - 2 ? 1 : 0) + (at >= len - 2 ? 1 : 0));
		assert_true(torn <= 1);
		seen_free(&s);
	}
	/* a bit flipped inside a record's LDIF: torn */
	text[first_end + 200] ^= 0x01;
	{
		FILE *fp = fopen(cut, "wb");

		fwrite(text, 1, len, fp);
		fclose(fp);
	}
	assert_int_equal(smp_journal_walk(cut, collect, &s, &err), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.r[0].state, SMP_JOURNAL_OK);
	assert_int_equal(s.r[1].state, SMP_JOURNAL_TORN);
	seen_free(&s);
	free(text);
	free(jpath);
	free(cut);
	free_value(a);
	free_value(b);
}

/* Records of earlier versions are still found (legacy), voided ones as voided. */
static void test_journal_reads_legacy_records(void **state)
{
	char *jpath = path_in_tmp("legacy.ldif");
	smp_error err = SMP_ERROR_INIT;
	struct seen s = { .n = 0 };
	smp_journal_change *ch = NULL;
	FILE *fp = fopen(jpath, "w");

	(void)state;
	assert_non_null(fp);
	fputs("# smimepub 2026-01-02T03:04:05Z undo of change to 'cn=a,dc=x'\n"
	      "dn: cn=a,dc=x\nchangetype: modify\ndelete: userCertificate;binary\n"
	      "userCertificate;binary:: MAEC\n-\n\n"
	      "# smimepub 2026-01-02T03:04:06Z undo of creation of 'cn=b,dc=x'\n"
	      "#n: cn=b,dc=x\n#hangetype: delete\n\n", fp);
	fclose(fp);
	assert_int_equal(smp_journal_walk(jpath, collect, &s, &err), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.r[0].state, SMP_JOURNAL_LEGACY);
	assert_string_equal(s.id[0], "@0");
	assert_int_equal(s.r[1].state, SMP_JOURNAL_VOIDED);
	assert_int_equal(smp_journal_parse(&ch, s.r[0].text, s.r[0].len, &err), 0);
	assert_int_equal(ch->op, SMP_JOURNAL_MODIFY);
	assert_int_equal(ch->changes[0].n_del, 1);
	assert_int_equal(ch->changes[0].del[0].bv_len, 3);
	smp_journal_change_free(ch);
	seen_free(&s);
	assert_int_equal(smp_journal_walk("/nonexistent/journal.ldif", collect, &s, &err),
			 SMP_ERR_NOTFOUND);
	free(jpath);
}

/* A record that deletes a whole attribute or replaces it is never one to apply. */
static void test_journal_parse_refuses_blind_changes(void **state)
{
	smp_error err = SMP_ERROR_INIT;
	smp_journal_change *ch = NULL;
	const char *whole = "dn: cn=a,dc=x\nchangetype: modify\ndelete: userCertificate\n-\n";
	const char *repl = "dn: cn=a,dc=x\nchangetype: modify\nreplace: mail\nmail: a@b\n-\n";
	const char *add = "dn: cn=a,dc=x\nchangetype: add\nobjectClass: top\nobjectClass: contact\n"
			  "cn: a\n";

	(void)state;
	assert_int_equal(smp_journal_parse(&ch, whole, strlen(whole), &err), SMP_ERR_BADINPUT);
	assert_non_null(strstr(err.msg, "without exact values"));
	assert_int_equal(smp_journal_parse(&ch, repl, strlen(repl), &err), SMP_ERR_BADINPUT);
	assert_int_equal(smp_journal_parse(&ch, add, strlen(add), &err), 0);
	assert_int_equal(ch->op, SMP_JOURNAL_ADD);
	assert_int_equal(ch->n_values, 3);
	assert_string_equal(ch->attrs[1], "objectClass");
	assert_string_equal(ch->values[1].bv_val, "contact");
	smp_journal_change_free(ch);
}

/*
 * Lines smimepub never writes and libldap 2.5 mishandles are refused before it parses them:
 * a line that names no attribute, or a '-' as an add record's first attribute, crashed its
 * LDIF parser (NULL name; found by fuzz_journal), and a value or control taken from a URL
 * ("attr:< file:///...") made it read a local file into the change undo would send.
 */
static void test_journal_parse_refuses_lines_libldap_mishandles(void **state)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "dn: cn=a,dc=x\nchangetype: add\n: x\n", "names no attribute" },
		{ "dn: cn=a,dc=x\nchangetype: add\n:: eA==\ncn: a\n", "names no attribute" },
		{ "dn: cn=a,dc=x\nchangetype: add\n#comment\n\t: x\n", "names no attribute" },
		{ "dn: cn=a,dc=x\nchangetype: add\n\r:x\n", "names no attribute" },
		{ "dn: cn=a,dc=x\nchangetype: add\ncn: a\n: x\n", "names no attribute" },
		{ "dn: cn=a,dc=x\nchangetype: modify\nadd: cn\n: x\n-\n", "names no attribute" },
		{ "dn: cn=a,dc=x\nchangetype: add\n-\ncn: a\n", "outside a modification" },
		{ "dn: cn=a,dc=x\nchangetype: add\ncn:< file:///etc/hostname\n", "URL" },
		{ "dn: cn=a,dc=x\nchangetype: modify\ndelete: userCertificate;binary\n"
		  "userCertificate;binary:< file:///dev/zero\n-\n", "URL" },
		{ "dn: cn=a,dc=x\nchangetype: modify\ndelete: mail\nmail:<\n file:///etc/passwd\n-\n",
		  "URL" },
		{ "dn: cn=a,dc=x\ncontrol: 1.2.3 true :< file:///etc/hostname\nchangetype: delete\n",
		  "control" },
	};
	const char *folded = "dn: cn=a,dc=x\nchangetype: add\ncn: a\ndescription: x\n :y\n";
	smp_error err = SMP_ERROR_INIT;
	smp_journal_change *ch = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (smp_journal_parse(&ch, bad[i].text, strlen(bad[i].text), &err) != SMP_ERR_BADINPUT)
			fail_msg("record %zu is not refused", i);
		assert_null(ch);
		if (strstr(err.msg, bad[i].why) == NULL)
			fail_msg("record %zu: '%s' does not say '%s'", i, err.msg, bad[i].why);
	}
	/* a folded line that goes on with ':' is part of its value, not a line of its own */
	assert_int_equal(smp_journal_parse(&ch, folded, strlen(folded), &err), 0);
	assert_int_equal(ch->n_values, 2);
	assert_string_equal(ch->values[1].bv_val, "x:y");
	smp_journal_change_free(ch);
}

/* A journal whose last record was cut short is closed off at the next open. */
static void test_journal_torn_tail_is_closed_off(void **state)
{
	struct berval *a = make_value(5, 400), *b = make_value(6, 410);
	smp_change replace = { ATTR, a, 1, b, 1 };
	smp_error err = SMP_ERROR_INIT;
	char *jpath = path_in_tmp("torn.ldif");
	smp_journal *j = NULL;
	struct seen s = { .n = 0 };
	parsed p;
	char *text;
	size_t len;
	FILE *fp;

	(void)state;
	assert_int_equal(smp_journal_open(&j, jpath, &err), 0);
	assert_null(smp_journal_notice(j));
	assert_int_equal(smp_journal_record(j, DN, &replace, 1, &err), 0);
	assert_int_equal(smp_journal_record(j, DN, &replace, 1, &err), 0);
	smp_journal_close(j);
	text = slurp(jpath);
	len = strlen(text);
	/* a crash in the middle of the second record's value */
	fp = fopen(jpath, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len - 300, fp), len - 300);
	fclose(fp);

	assert_int_equal(smp_journal_open(&j, jpath, &err), 0);
	assert_non_null(smp_journal_notice(j));
	assert_non_null(strstr(smp_journal_notice(j), "cut short"));
	assert_int_equal(smp_journal_record(j, DN, &replace, 1, &err), 0);
	smp_journal_close(j);
	/* opening a whole journal again repairs nothing */
	assert_int_equal(smp_journal_open(&j, jpath, &err), 0);
	assert_null(smp_journal_notice(j));
	smp_journal_close(j);

	assert_int_equal(smp_journal_walk(jpath, collect, &s, &err), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.r[0].state, SMP_JOURNAL_OK);
	assert_int_equal(s.r[1].state, SMP_JOURNAL_TORN);
	assert_int_equal(s.r[2].state, SMP_JOURNAL_OK);
	seen_free(&s);
	/* and ldapmodify's reader finds exactly the two whole records */
	parse_file(&p, jpath);
	assert_int_equal(p.n, 2);
	parsed_free(&p);
	free(text);
	free(jpath);
	free_value(a);
	free_value(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_modify_exact_text),
		cmocka_unit_test(test_modify_dn_base64_and_comment),
		cmocka_unit_test(test_modify_nothing),
		cmocka_unit_test(test_modify_deletes_first),
		cmocka_unit_test(test_add_record),
		cmocka_unit_test(test_roundtrip_reorder),
		cmocka_unit_test(test_journal_appends_with_comments),
		cmocka_unit_test(test_journal_default_path),
		cmocka_unit_test(test_journal_open_fails),
		cmocka_unit_test(test_journal_records_are_framed_and_read_back),
		cmocka_unit_test(test_journal_cut_anywhere_is_never_ok),
		cmocka_unit_test(test_journal_reads_legacy_records),
		cmocka_unit_test(test_journal_parse_refuses_blind_changes),
		cmocka_unit_test(test_journal_parse_refuses_lines_libldap_mishandles),
		cmocka_unit_test(test_journal_torn_tail_is_closed_off),
	};

	return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
