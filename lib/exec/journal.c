/* smimepub: journal of inverse changes and LDIF output (SPEC §4). */
#include "smimepub/journal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ldap.h>
#include <ldif.h>
#include <openssl/evp.h>

#define ID_LEN 16               /* hex digits of a record or run id */
#define RECORD_MAX (64u << 20)  /* a record larger than this is not one of ours */

struct smp_journal {
	char *path;
	int fd;               /* O_APPEND; also the one descriptor its flock is taken on */
	int rw_fd;            /* for voiding records in place (no O_APPEND); -1 until needed */
	char *command;        /* the origin every record names (smp_journal_set_origin) */
	char *actor;
	char *notice;         /* what opening repaired, or NULL */
};

struct smp_journal_batch {
	char *text;           /* the records, back to back */
	size_t len;
	size_t *start;        /* record i is text[start[i] .. start[i] + size[i]) */
	size_t *size;
	char (*ids)[ID_LEN + 1]; /* record i's id ("" when it holds nothing) */
	size_t n, cap;
	off_t file_off;       /* where text landed in the file, -1 before commit */
};

/* ---- ids ------------------------------------------------------------------------------- */

static char run_id[ID_LEN + 1];
static pthread_once_t run_once = PTHREAD_ONCE_INIT;

/* ID_LEN random hex digits (the time when the kernel has no randomness to give). */
static void new_id(char out[ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[ID_LEN / 2];

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		struct timespec ts;
		uint64_t v;

		clock_gettime(CLOCK_REALTIME, &ts);
		v = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 40);
		for (size_t i = 0; i < sizeof(raw); i++)
			raw[i] = (unsigned char)(v >> (8 * (i % 8)));
	}
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[ID_LEN] = '\0';
}

static void make_run_id(void)
{
	new_id(run_id);
}

static const char *this_run(void)
{
	pthread_once(&run_once, make_run_id);
	return run_id;
}

/* Writes one LDIF line made by libldap (wrapped at wrap columns, 0 = LDIF default). */
static int put(FILE *fp, int type, const char *name, const char *val, ber_len_t len,
	       ber_len_t wrap, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	char *line = NULL;

	line = ldif_put_wrap(type, name, val, len, wrap);
	if (line == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "cannot format LDIF line '%s': out of memory",
				  name != NULL ? name : "#");
		goto out;
	}
	if (fputs(line, fp) == EOF) {
		r = smp_error_set(err, SMP_ERR_INTERNAL, "cannot write LDIF: %s", strerror(errno));
		goto out;
	}
	r = 0;
out:
	if (line != NULL)
		ber_memfree(line);
	return r;
}

static int put_raw(FILE *fp, const char *text, smp_error *err)
{
	if (fputs(text, fp) == EOF)
		return smp_error_set(err, SMP_ERR_INTERNAL, "cannot write LDIF: %s", strerror(errno));
	return 0;
}

/* A comment on one line: control characters become spaces. */
static int put_comment(FILE *fp, const char *comment, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	char *text = NULL;
	size_t i;

	text = strdup(comment);
	if (text == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "cannot copy LDIF comment: out of memory");
		goto out;
	}
	for (i = 0; text[i] != '\0'; i++) {
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			text[i] = ' ';
	}
	r = put(fp, LDIF_PUT_COMMENT, NULL, text, strlen(text), LDIF_LINE_WIDTH_MAX, err);
out:
	free(text);
	return r;
}

static int put_dn(FILE *fp, const char *dn, const char *comment, const char *changetype,
		  smp_error *err)
{
	int r;

	if (comment != NULL && (r = put_comment(fp, comment, err)) != 0)
		return r;
	if ((r = put(fp, LDIF_PUT_VALUE, "dn", dn, strlen(dn), 0, err)) != 0)
		return r;
	return put(fp, LDIF_PUT_VALUE, "changetype", changetype, strlen(changetype), 0, err);
}

static int put_mod(FILE *fp, const char *op, const char *attr, const struct berval *vals,
		   size_t n, smp_error *err)
{
	int r;
	size_t i;

	if (n == 0)
		return 0;
	if ((r = put(fp, LDIF_PUT_VALUE, op, attr, strlen(attr), 0, err)) != 0)
		return r;
	for (i = 0; i < n; i++) {
		r = put(fp, LDIF_PUT_BINARY, attr, vals[i].bv_val, vals[i].bv_len, 0, err);
		if (r != 0)
			return r;
	}
	return put_raw(fp, "-\n", err);
}

static int changes_empty(const smp_change *changes, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (changes[i].n_del > 0 || changes[i].n_add > 0)
			return 0;
	}
	return 1;
}

/*
 * Writes the LDIF modify record for changes to dn: every deletion first, then every addition,
 * values always base64. Writes nothing when no change holds a value. Returns 0, or
 * SMP_ERR_INTERNAL when fp cannot be written.
 */
int smp_ldif_write_modify(FILE *fp, const char *dn, const smp_change *changes, size_t n,
			  const char *comment, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	size_t i;

	if (changes_empty(changes, n))
		return 0;
	if ((r = put_dn(fp, dn, comment, "modify", err)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		r = put_mod(fp, "delete", changes[i].attr, changes[i].del, changes[i].n_del, err);
		if (r != 0)
			goto out;
	}
	for (i = 0; i < n; i++) {
		r = put_mod(fp, "add", changes[i].attr, changes[i].add, changes[i].n_add, err);
		if (r != 0)
			goto out;
	}
	if ((r = put_raw(fp, "\n", err)) != 0)
		goto out;
	if (ferror(fp)) {
		r = smp_error_set(err, SMP_ERR_INTERNAL, "cannot write LDIF record for '%s'", dn);
		goto out;
	}
	r = 0;
out:
	return r;
}

/*
 * Writes an LDIF add record (with changetype: add, so `ldapmodify -f` takes it without -a):
 * attrs[i] with its one value values[i]. Returns 0 or SMP_ERR_INTERNAL.
 */
int smp_ldif_write_add(FILE *fp, const char *dn, const char *const *attrs,
		       const struct berval *const *values, size_t n, const char *comment,
		       smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	size_t i;

	if ((r = put_dn(fp, dn, comment, "add", err)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		r = put(fp, LDIF_PUT_VALUE, attrs[i], values[i]->bv_val, values[i]->bv_len, 0, err);
		if (r != 0)
			goto out;
	}
	if ((r = put_raw(fp, "\n", err)) != 0)
		goto out;
	if (ferror(fp)) {
		r = smp_error_set(err, SMP_ERR_INTERNAL, "cannot write LDIF record for '%s'", dn);
		goto out;
	}
	r = 0;
out:
	return r;
}

int smp_ldif_write_delete(FILE *fp, const char *dn, const char *comment, smp_error *err)
{
	int r;

	if ((r = put_dn(fp, dn, comment, "delete", err)) != 0 || (r = put_raw(fp, "\n", err)) != 0)
		return r;
	if (ferror(fp))
		return smp_error_set(err, SMP_ERR_INTERNAL, "cannot write LDIF record for '%s'", dn);
	return 0;
}

/* Creates every missing directory above the file path, mode 0700. */
static int mkdir_parents(const char *path, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	char *dir = NULL;
	char *p, c;

	dir = strdup(path);
	if (dir == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "cannot copy journal path: out of memory");
		goto out;
	}
	p = strrchr(dir, '/');
	if (p == NULL || p == dir) {
		r = 0;
		goto out;
	}
	*p = '\0';
	for (p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			r = smp_error_set(err, SMP_ERR_NOFILE, "cannot create directory '%s': %s",
					  dir, strerror(errno));
			goto out;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	r = 0;
out:
	free(dir);
	return r;
}

int smp_journal_default_path(char **out, smp_error *err)
{
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	struct passwd *pw;

	*out = NULL;
	if (state != NULL && state[0] == '/') {
		if (asprintf(out, "%s/smimepub/journal.ldif", state) < 0)
			goto nomem;
		return 0;
	}
	if (home == NULL || home[0] == '\0') {
		pw = getpwuid(getuid());
		home = pw != NULL ? pw->pw_dir : NULL;
	}
	if (home == NULL || home[0] == '\0') 
		return smp_error_set_hint(err, SMP_ERR_USAGE, SMP_HINT_JOURNAL_PATH,
			      "cannot place the journal: neither XDG_STATE_HOME nor HOME is set");
	if (asprintf(out, "%s/.local/state/smimepub/journal.ldif", home) < 0)
		goto nomem;
	return 0;
nomem:
	*out = NULL;
	return smp_error_set(err, SMP_ERR_NOMEM, "cannot build journal path: out of memory");
}

/*
 * A journal whose last record was cut short (a crash or a full disk in the middle of an
 * append) ends without the empty line that ends every record. The torn tail is voided in
 * place (every line a comment, as a refused change's record: its change never happened, since
 * nothing is sent before its record is synced) and closed with an empty line, so the records
 * before it stay usable and new ones follow cleanly, for smimepub and for ldapmodify alike.
 * Under the journal's lock. Sets j->notice when it repaired something.
 */
static void repair_tail(smp_journal *j)
{
	char buf[4096], *text = NULL;
	struct stat st;
	off_t start = 0, at;
	size_t len;
	int fd;

	if (fstat(j->fd, &st) != 0 || st.st_size == 0)
		return;
	len = st.st_size < (off_t)sizeof(buf) ? (size_t)st.st_size : sizeof(buf);
	if ((fd = open(j->path, O_RDWR | O_CLOEXEC)) < 0)
		return;
	if (st.st_size >= 2 && pread(fd, buf, 2, st.st_size - 2) == 2 && buf[0] == '\n' &&
	    buf[1] == '\n')
		goto out;  /* ends as every record does */
	/* the torn record starts after the last empty line (a record never holds one) */
	for (at = st.st_size; at > 0 && start == 0;) {
		off_t from = at > (off_t)len ? at - (off_t)len : 0;
		ssize_t got = pread(fd, buf, (size_t)(at - from), from);

		if (got <= 0)
			goto out;
		for (ssize_t i = got - 1; i > 0; i--) {
			if (buf[i] == '\n' && buf[i - 1] == '\n') {
				start = from + i + 1;
				break;
			}
		}
		if (start == 0)
			at = from + 1 < at ? from + 1 : from;  /* overlap one byte: "\n|\n" */
		if (from == 0)
			break;
	}
	if ((size_t)(st.st_size - start) > RECORD_MAX ||
	    (text = malloc((size_t)(st.st_size - start))) == NULL)
		goto out;
	len = (size_t)(st.st_size - start);
	if (pread(fd, text, len, start) != (ssize_t)len)
		goto out;
	for (size_t i = 0; i < len; i++)
		if ((i == 0 || text[i - 1] == '\n') && text[i] != '\n')
			text[i] = '#';
	if (pwrite(fd, text, len, start) != (ssize_t)len ||
	    pwrite(fd, text[len - 1] == '\n' ? "\n" : "\n\n", text[len - 1] == '\n' ? 1 : 2,
		   st.st_size) < 0 || fsync(fd) != 0)
		goto out;
	if (asprintf(&j->notice, "journal '%s': the last record (at byte %lld) was cut short, by "
		     "a crash or a full disk; it was closed off and is never applied", j->path,
		     (long long)start) < 0)
		j->notice = NULL;
out:
	free(text);
	close(fd);
}

const char *smp_journal_notice(const smp_journal *j)
{
	return j->notice;
}

/*
 * Opens the journal for appending (O_APPEND, created 0600, missing directories 0700).
 * Returns 0 and a journal closed with smp_journal_close; SMP_ERR_NOFILE when it cannot be
 * created or opened; SMP_ERR_USAGE when no default location can be found.
 */
int smp_journal_open(smp_journal **out, const char *path, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	smp_journal *j = NULL;

	*out = NULL;
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "cannot open journal: out of memory");
		goto out;
	}
	j->fd = -1;
	j->rw_fd = -1;
	if (path != NULL) {
		j->path = strdup(path);
		if (j->path == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "cannot open journal: out of memory");
			goto out;
		}
	} else if ((r = smp_journal_default_path(&j->path, err)) != 0) {
		goto out;
	}
	if ((r = mkdir_parents(j->path, err)) != 0)
		goto out;
	j->fd = open(j->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		r = smp_error_set(err, SMP_ERR_NOFILE, "cannot open journal '%s': %s", j->path,
				  strerror(errno));
		goto out;
	}
	if (flock(j->fd, LOCK_EX) == 0) {
		repair_tail(j);
		flock(j->fd, LOCK_UN);
	}
	*out = j;
	j = NULL;
	r = 0;
out:
	smp_journal_close(j);
	return r;
}

/*
 * Appends text in one write under the journal's lock (flock: another smimepub process appends
 * or voids between our records, never inside them) and syncs it. *end (may be NULL) gets the
 * file offset just past it.
 */
static int journal_append(smp_journal *j, const char *text, size_t len, off_t *end,
			  smp_error *err)
{
	size_t done = 0;
	ssize_t w;
	struct stat st;
	int r = SMP_ERR_INTERNAL;

	while (flock(j->fd, LOCK_EX) != 0) {
		if (errno != EINTR)
			return smp_error_set(err, SMP_ERR_INTERNAL, "cannot lock journal '%s': %s",
					     j->path, strerror(errno));
	}
	if (fstat(j->fd, &st) != 0) {
		r = smp_error_set(err, SMP_ERR_INTERNAL, "cannot stat journal '%s': %s", j->path,
				  strerror(errno));
		goto out;
	}
	while (done < len) {
		w = write(j->fd, text + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r = smp_error_set(err, SMP_ERR_INTERNAL, "cannot write journal '%s': %s",
					  j->path, w < 0 ? strerror(errno) : "short write");
			goto out;
		}
		done += (size_t)w;
	}
	if (fsync(j->fd) != 0) {
		r = smp_error_set(err, SMP_ERR_INTERNAL, "cannot sync journal '%s': %s", j->path,
				  strerror(errno));
		goto out;
	}
	/* O_APPEND: the offset is now the end of what this write put there */
	if (end != NULL)
		*end = lseek(j->fd, 0, SEEK_CUR);
	r = 0;
out:
	if (r != 0 && done > 0) {
		/*
		 * A part of the records made it (a full disk): under the lock nothing followed
		 * it, so cut it off again; the journal stays well-formed. Should even that fail,
		 * the next open closes the torn tail off (repair_tail).
		 */
		if (ftruncate(j->fd, st.st_size) == 0)
			fsync(j->fd);
	}
	flock(j->fd, LOCK_UN);
	return r;
}

static void now_rfc3339(char when[32])
{
	struct tm tm;
	time_t now = time(NULL);

	if (gmtime_r(&now, &tm) == NULL || strftime(when, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(when, 32, "%lld", (long long)now);
}

/* The LDIF record of one journal entry, without its header and end lines. */
typedef int (*body_fn)(FILE *mem, const char *human, void *ctx, smp_error *err);

/*
 * One framed record (journal.h) in *out (malloc'd, *outlen bytes): the header naming id (a
 * new one, also copied to id), the time, this process's run, j's origin (j may be NULL) and
 * undoes; the body; the end line with the digest; the empty line that ends the LDIF record.
 */
static int frame(char **out, size_t *outlen, char id[ID_LEN + 1], const smp_journal *j,
		 const char *undoes, const char *human, body_fn body, void *ctx, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	char *text = NULL, *header = NULL, when[32];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t len = 0;
	FILE *mem = NULL;

	*out = NULL;
	*outlen = 0;
	new_id(id);
	now_rfc3339(when);
	if (asprintf(&header, "smimepub record %s time=%s run=%s command=%s%s%s by=%s", id, when,
		     this_run(), j != NULL && j->command != NULL ? j->command : "smimepub",
		     undoes != NULL ? " undoes=" : "", undoes != NULL ? undoes : "",
		     j != NULL && j->actor != NULL ? j->actor : "unknown") < 0) {
		header = NULL;
		goto nomem;
	}
	if ((mem = open_memstream(&text, &len)) == NULL)
		goto nomem;
	if ((r = put_comment(mem, header, err)) != 0 || (r = body(mem, human, ctx, err)) != 0)
		goto out;
	if (fclose(mem) != 0) {
		mem = NULL;
		goto nomem;
	}
	mem = NULL;
	/* the body ends with the empty line of its LDIF record: the end line goes before it */
	if (len >= 2 && text[len - 1] == '\n' && text[len - 2] == '\n')
		len--;
	if (EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL) != 1) {
		r = smp_error_set(err, SMP_ERR_INTERNAL, "cannot digest a journal record");
		goto out;
	}
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	{
		char *framed = NULL;
		int n = asprintf(&framed, "%.*s# smimepub end %s sha256=%s\n\n", (int)len, text, id,
				 hex);

		if (n < 0)
			goto nomem;
		free(text);
		text = framed;
		len = (size_t)n;
	}
	*out = text;
	*outlen = len;
	text = NULL;
	r = 0;
	goto out;
nomem:
	r = smp_error_set(err, SMP_ERR_NOMEM, "cannot record journal entry: out of memory");
out:
	if (mem != NULL)
		fclose(mem);
	free(text);
	free(header);
	return r;
}

struct modify_body {
	const char *dn;
	const smp_change *changes;
	size_t n;
};

static int modify_body(FILE *mem, const char *human, void *ctx, smp_error *err)
{
	const struct modify_body *m = ctx;

	return smp_ldif_write_modify(mem, m->dn, m->changes, m->n, human, err);
}

/*
 * The framed inverse record of changes to dn (additions become deletions and the other way
 * round, both in their original order, so a reorder is undone too), malloc'd in *out, or
 * *outlen 0 (and id "") when the changes hold no value.
 */
static int inverse_text(char **out, size_t *outlen, char id[ID_LEN + 1], const smp_journal *j,
			const char *undoes, const char *dn, const smp_change *changes, size_t n,
			smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	smp_change *inverse = NULL;
	char *human = NULL;
	struct modify_body m;
	size_t i;

	*out = NULL;
	*outlen = 0;
	id[0] = '\0';
	if (changes_empty(changes, n))
		return 0;
	inverse = calloc(n, sizeof(*inverse));
	if (inverse == NULL || asprintf(&human, "undo of change to '%s'", dn) < 0) {
		human = NULL;
		r = smp_error_set(err, SMP_ERR_NOMEM, "cannot record journal entry: out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		inverse[i].attr = changes[i].attr;
		inverse[i].del = changes[i].add;
		inverse[i].n_del = changes[i].n_add;
		inverse[i].add = changes[i].del;
		inverse[i].n_add = changes[i].n_del;
	}
	m.dn = dn;
	m.changes = inverse;
	m.n = n;
	r = frame(out, outlen, id, j, undoes, human, modify_body, &m, err);
out:
	free(human);
	free(inverse);
	return r;
}

int smp_journal_batch_new(smp_journal_batch **out)
{
	*out = calloc(1, sizeof(**out));
	if (*out == NULL)
		return SMP_ERR_NOMEM;
	(*out)->file_off = -1;
	return 0;
}

void smp_journal_batch_free(smp_journal_batch *b)
{
	if (b == NULL)
		return;
	free(b->text);
	free(b->start);
	free(b->size);
	free(b->ids);
	free(b);
}

size_t smp_journal_batch_count(const smp_journal_batch *b)
{
	return b->n;
}

const char *smp_journal_batch_record_id(const smp_journal_batch *b, size_t id)
{
	if (id >= b->n || b->ids[id][0] == '\0')
		return NULL;
	return b->ids[id];
}

static int batch_take(smp_journal_batch *b, char *text, size_t len, const char *rid,
		      size_t *id, smp_error *err);

int smp_journal_batch_add_undo(smp_journal_batch *b, const smp_journal *j, const char *dn,
			       const smp_change *changes, size_t n, const char *undoes,
			       size_t *id, smp_error *err)
{
	char *text = NULL, rid[ID_LEN + 1];
	size_t len = 0;
	int r;

	if (b->file_off >= 0)
		return smp_error_set(err, SMP_ERR_INTERNAL, "journal batch already written");
	if ((r = inverse_text(&text, &len, rid, j, undoes, dn, changes, n, err)) != 0)
		return r;
	return batch_take(b, text, len, rid, id, err);
}

/* Adds the framed record text (taken) with id rid to b; *id names it. */
static int batch_take(smp_journal_batch *b, char *text, size_t len, const char *rid,
		      size_t *id, smp_error *err)
{
	char *grown;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		size_t *st = realloc(b->start, cap * sizeof(*st));
		char (*ids)[ID_LEN + 1];

		if (st != NULL)
			b->start = st;
		st = st != NULL ? realloc(b->size, cap * sizeof(*st)) : NULL;
		if (st != NULL)
			b->size = st;
		ids = st != NULL ? realloc(b->ids, cap * sizeof(*ids)) : NULL;
		if (ids == NULL) {
			free(text);
			return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		}
		b->ids = ids;
		b->cap = cap;
	}
	if ((grown = realloc(b->text, b->len + len + 1)) == NULL) {
		free(text);
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	}
	b->text = grown;
	if (len > 0)
		memcpy(b->text + b->len, text, len);
	b->text[b->len + len] = '\0';
	b->start[b->n] = b->len;
	b->size[b->n] = len;
	memcpy(b->ids[b->n], rid, ID_LEN + 1);
	b->len += len;
	*id = b->n++;
	free(text);
	return 0;
}

int smp_journal_batch_add(smp_journal_batch *b, const char *dn, const smp_change *changes,
			  size_t n, size_t *id, smp_error *err)
{
	return smp_journal_batch_add_undo(b, NULL, dn, changes, n, NULL, id, err);
}

int smp_journal_batch_commit(smp_journal *j, smp_journal_batch *b, smp_error *err)
{
	off_t end;
	int r;

	if (b->file_off >= 0)
		return 0;
	if (b->len == 0) {
		b->file_off = 0;
		return 0;
	}
	if ((r = journal_append(j, b->text, b->len, &end, err)) != 0)
		return r;
	if (end < 0 || (size_t)end < b->len)
		return smp_error_set(err, SMP_ERR_INTERNAL, "cannot locate the journal records in '%s'",
				     j->path);
	b->file_off = end - (off_t)b->len;
	return 0;
}

/*
 * Voids the len bytes at `at`, which must still be mine: every line becomes a comment line and
 * a header's "record" becomes "voided", the length unchanged. Under the journal's lock.
 */
static int void_range(smp_journal *j, off_t at, const char *mine_text, size_t len,
		      smp_error *err)
{
	static const char rec[] = "# smimepub record ", voided[] = "# smimepub voided ";
	char *mine = NULL, *disk = NULL;
	ssize_t got;
	int r = SMP_ERR_INTERNAL, locked = 0;

	if (j->rw_fd < 0 && (j->rw_fd = open(j->path, O_RDWR | O_CLOEXEC)) < 0)
		return smp_error_set(err, SMP_ERR_NOFILE, "cannot open journal '%s': %s", j->path,
				     strerror(errno));
	mine = malloc(len);
	disk = malloc(len);
	if (mine == NULL || disk == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (flock(j->fd, LOCK_EX) == 0)
		locked = 1;
	/* a record already voided (or a file changed behind our back) is left alone */
	got = pread(j->rw_fd, disk, len, at);
	if (got != (ssize_t)len || memcmp(disk, mine_text, len) != 0) {
		r = 0;
		goto out;
	}
	memcpy(mine, disk, len);
	for (size_t i = 0; i < len; i++) {
		if (i != 0 && mine[i - 1] != '\n')
			continue;
		if (len - i >= sizeof(rec) - 1 && memcmp(mine + i, rec, sizeof(rec) - 1) == 0)
			memcpy(mine + i, voided, sizeof(voided) - 1);
		else if (mine[i] != '\n')
			mine[i] = '#';
	}
	if (pwrite(j->rw_fd, mine, len, at) != (ssize_t)len || fsync(j->rw_fd) != 0) {
		r = smp_error_set(err, SMP_ERR_INTERNAL, "cannot void a record of journal '%s': %s",
				  j->path, strerror(errno));
		goto out;
	}
	r = 0;
out:
	if (locked)
		flock(j->fd, LOCK_UN);
	free(mine);
	free(disk);
	return r;
}

int smp_journal_batch_void(smp_journal *j, smp_journal_batch *b, size_t id, smp_error *err)
{
	if (id >= b->n || b->file_off < 0)
		return smp_error_set(err, SMP_ERR_INTERNAL, "no such journal record");
	if (b->size[id] == 0)
		return 0;
	return void_range(j, b->file_off + (off_t)b->start[id], b->text + b->start[id],
			  b->size[id], err);
}

int smp_journal_record(smp_journal *j, const char *dn, const smp_change *changes, size_t n,
		       smp_error *err)
{
	char *text = NULL, id[ID_LEN + 1];
	size_t len = 0;
	int r;

	if ((r = inverse_text(&text, &len, id, j, NULL, dn, changes, n, err)) == 0 && len > 0)
		r = journal_append(j, text, len, NULL, err);
	free(text);
	return r;
}

struct delete_body {
	const char *dn;
};

static int delete_body(FILE *mem, const char *human, void *ctx, smp_error *err)
{
	const struct delete_body *d = ctx;
	int r;

	if ((r = put_dn(mem, d->dn, human, "delete", err)) != 0)
		return r;
	return put_raw(mem, "\n", err);
}

int smp_journal_batch_add_creation(smp_journal_batch *b, const smp_journal *j, const char *dn,
				   const char *undoes, size_t *id, smp_error *err)
{
	char *text = NULL, *human = NULL, rid[ID_LEN + 1];
	struct delete_body d = { dn };
	size_t len = 0;
	int r;

	if (b->file_off >= 0)
		return smp_error_set(err, SMP_ERR_INTERNAL, "journal batch already written");
	if (asprintf(&human, "undo of creation of '%s'", dn) < 0)
		return smp_error_set(err, SMP_ERR_NOMEM, "cannot record journal entry: out of memory");
	r = frame(&text, &len, rid, j, undoes, human, delete_body, &d, err);
	free(human);
	if (r != 0)
		return r;
	return batch_take(b, text, len, rid, id, err);
}

/* Appends the inverse of creating dn (a delete record) and syncs it. Returns 0 or an error. */
int smp_journal_record_add(smp_journal *j, const char *dn, smp_error *err)
{
	char *text = NULL, *human = NULL, id[ID_LEN + 1];
	struct delete_body d = { dn };
	size_t len = 0;
	int r;

	if (asprintf(&human, "undo of creation of '%s'", dn) < 0)
		return smp_error_set(err, SMP_ERR_NOMEM, "cannot record journal entry: out of memory");
	if ((r = frame(&text, &len, id, j, NULL, human, delete_body, &d, err)) == 0)
		r = journal_append(j, text, len, NULL, err);
	free(text);
	free(human);
	return r;
}

struct add_body {
	const char *dn;
	const char *const *attrs;
	const struct berval *values;
	size_t n;
};

static int add_body(FILE *mem, const char *human, void *ctx, smp_error *err)
{
	const struct add_body *a = ctx;
	const struct berval **v = calloc(a->n + 1, sizeof(*v));
	int r;

	if (v == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < a->n; i++)
		v[i] = &a->values[i];
	r = smp_ldif_write_add(mem, a->dn, a->attrs, v, a->n, human, err);
	free(v);
	return r;
}

int smp_journal_batch_add_deletion(smp_journal_batch *b, const smp_journal *j, const char *dn,
				   const char *const *attrs, const struct berval *values,
				   size_t n, const char *undoes, size_t *id, smp_error *err)
{
	char *text = NULL, *human = NULL, rid[ID_LEN + 1];
	struct add_body a = { dn, attrs, values, n };
	size_t len = 0;
	int r;

	if (b->file_off >= 0)
		return smp_error_set(err, SMP_ERR_INTERNAL, "journal batch already written");
	if (asprintf(&human, "re-creation of '%s'", dn) < 0)
		return smp_error_set(err, SMP_ERR_NOMEM, "cannot record journal entry: out of memory");
	r = frame(&text, &len, rid, j, undoes, human, add_body, &a, err);
	free(human);
	if (r != 0)
		return r;
	return batch_take(b, text, len, rid, id, err);
}

int smp_journal_set_origin(smp_journal *j, const char *command, const char *actor)
{
	char *c = NULL, *a = NULL;

	if ((command != NULL && (c = strdup(command)) == NULL) ||
	    (actor != NULL && (a = strdup(actor)) == NULL)) {
		free(c);
		return SMP_ERR_NOMEM;
	}
	if (c != NULL) {
		free(j->command);
		j->command = c;
	}
	if (a != NULL) {
		free(j->actor);
		j->actor = a;
	}
	return 0;
}

const char *smp_journal_run(const smp_journal *j)
{
	(void)j;
	return this_run();
}

/* The journal's file name, owned by j. */
const char *smp_journal_path(const smp_journal *j)
{
	return j->path;
}

/* Closes j (NULL is fine). */
void smp_journal_close(smp_journal *j)
{
	if (j == NULL)
		return;
	if (j->fd >= 0)
		close(j->fd);
	if (j->rw_fd >= 0)
		close(j->rw_fd);
	free(j->command);
	free(j->actor);
	free(j->notice);
	free(j->path);
	free(j);
}

/* ---- reading ------------------------------------------------------------------------------ */

struct walker {
	int (*fn)(const smp_journal_info *r, void *ctx);
	void *ctx;
	char *buf;            /* the record so far */
	size_t len, cap;
	int in;               /* 0 none, 1 framed, 2 legacy */
	int voided;           /* a framed record's header said "voided" */
	unsigned long long offset;
	unsigned long line;
	char when[32];        /* a legacy record's time */
	/* header fields, each within hdr */
	char hdr[2048];
	char *id, *time, *run, *command, *undoes, *by;
	char at_id[32];
};

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Splits a framed header ("# smimepub record ID k=v ... by=WHO") into w's fields. */
static void parse_header(struct walker *w, const char *line, size_t len)
{
	char *p, *tok, *save = NULL;

	if (len >= sizeof(w->hdr))
		len = sizeof(w->hdr) - 1;
	memcpy(w->hdr, line, len);
	w->hdr[len] = '\0';
	while (len > 0 && (w->hdr[len - 1] == '\n' || w->hdr[len - 1] == '\r'))
		w->hdr[--len] = '\0';
	w->id = w->time = w->run = w->command = w->by = (char *)"";
	w->undoes = NULL;
	p = w->hdr + strlen("# smimepub record ");
	/* by= runs to the end of the line: the identity may hold spaces */
	{
		char *by = strstr(p, " by=");

		if (by != NULL) {
			*by = '\0';
			w->by = by + 4;
		}
	}
	for (tok = strtok_r(p, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
		if (w->id[0] == '\0' && strchr(tok, '=') == NULL)
			w->id = tok;
		else if (starts(tok, "time="))
			w->time = tok + 5;
		else if (starts(tok, "run="))
			w->run = tok + 4;
		else if (starts(tok, "command="))
			w->command = tok + 8;
		else if (starts(tok, "undoes="))
			w->undoes = tok + 7;
	}
}

static int buf_add(struct walker *w, const char *line, size_t len, smp_error *err)
{
	if (w->len + len + 1 > RECORD_MAX)
		return smp_error_set(err, SMP_ERR_BADINPUT,
				     "journal record at line %lu is larger than %u MiB", w->line,
				     RECORD_MAX >> 20);
	if (w->len + len + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 4096;
		char *grown;

		while (cap < w->len + len + 1)
			cap *= 2;
		if ((grown = realloc(w->buf, cap)) == NULL)
			return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		w->buf = grown;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, line, len);
	w->len += len;
	w->buf[w->len] = '\0';
	return 0;
}

/* Hands the record in w->buf to fn with state st, and forgets it. */
static int emit(struct walker *w, smp_journal_state st)
{
	smp_journal_info info;
	int r;

	memset(&info, 0, sizeof(info));
	info.state = st;
	snprintf(w->at_id, sizeof(w->at_id), "@%llu", w->offset);
	if (w->in == 1) {
		info.id = w->id[0] != '\0' ? w->id : w->at_id;
		info.time = w->time;
		info.run = w->run;
		info.command = w->command;
		info.undoes = w->undoes;
		info.by = w->by;
	} else {
		/* legacy: "# smimepub <time> undo of ..." */
		const char *t = w->buf + strlen("# smimepub ");
		size_t n = strcspn(t, " \n");

		snprintf(w->when, sizeof(w->when), "%.*s", (int)(n < 31 ? n : 31), t);
		info.id = w->at_id;
		info.time = w->when;
		info.run = info.command = info.by = "";
	}
	info.text = w->buf != NULL ? w->buf : "";
	info.len = w->len;
	info.offset = w->offset;
	info.line = w->line;
	r = w->fn(&info, w->ctx);
	w->len = 0;
	w->in = 0;
	return r;
}

/* A framed record whose end line has just been added: OK, voided or torn (digest). */
static smp_journal_state judge(struct walker *w, size_t end_at)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	const char *end = w->buf + end_at, *sum;
	size_t idlen = strlen(w->id);

	if (w->voided)
		return SMP_JOURNAL_VOIDED;
	end += strlen("# smimepub end ");
	if (idlen == 0 || strncmp(end, w->id, idlen) != 0 || end[idlen] != ' ')
		return SMP_JOURNAL_TORN;
	sum = strstr(end, "sha256=");
	if (sum == NULL || EVP_Digest(w->buf, end_at, md, &mdlen, EVP_sha256(), NULL) != 1)
		return SMP_JOURNAL_TORN;
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (strncmp(sum + 7, hex, 2 * mdlen) != 0)
		return SMP_JOURNAL_TORN;
	return SMP_JOURNAL_OK;
}

/* Whether every line of the legacy record in w->buf is a comment (it was voided). */
static int all_comments(const struct walker *w)
{
	for (size_t i = 0; i < w->len; i++)
		if ((i == 0 || w->buf[i - 1] == '\n') && w->buf[i] != '#' && w->buf[i] != '\n')
			return 0;
	return 1;
}

int smp_journal_walk(const char *path, int (*fn)(const smp_journal_info *r, void *ctx),
		     void *ctx, smp_error *err)
{
	struct walker w;
	char *own = NULL, *line = NULL;
	size_t cap = 0;
	ssize_t got;
	unsigned long long off = 0;
	unsigned long lineno = 0;
	FILE *fp = NULL;
	int r = SMP_ERR_INTERNAL;

	memset(&w, 0, sizeof(w));
	w.fn = fn;
	w.ctx = ctx;
	if (path == NULL) {
		if ((r = smp_journal_default_path(&own, err)) != 0)
			return r;
		path = own;
	}
	if ((fp = fopen(path, "r")) == NULL) {
		r = smp_error_set(err, errno == ENOENT ? SMP_ERR_NOTFOUND : SMP_ERR_NOFILE,
				  "cannot read journal '%s': %s", path, strerror(errno));
		goto out;
	}
	while ((got = getline(&line, &cap, fp)) > 0) {
		size_t len = (size_t)got;
		unsigned long long at = off;

		off += len;
		lineno++;
		if (starts(line, "# smimepub record ") || starts(line, "# smimepub voided ")) {
			/* a new header inside a record: the one before was cut off */
			if (w.in != 0 && (r = emit(&w, w.in == 2 ? SMP_JOURNAL_LEGACY
							      : SMP_JOURNAL_TORN)) != 0)
				goto out;
			w.in = 1;
			w.voided = starts(line, "# smimepub voided ");
			if (w.voided)
				memcpy(line + 11, "record", 6);
			parse_header(&w, line, len);
			if (w.voided)
				memcpy(line + 11, "voided", 6);
			w.offset = at;
			w.line = lineno;
			if ((r = buf_add(&w, line, len, err)) != 0)
				goto out;
			continue;
		}
		if (w.in == 0) {
			if (starts(line, "# smimepub ") && line[11] >= '0' && line[11] <= '9') {
				w.in = 2;
				w.offset = at;
				w.line = lineno;
				if ((r = buf_add(&w, line, len, err)) != 0)
					goto out;
			}
			continue;
		}
		if (w.in == 2 && (line[0] == '\n' || (line[0] == '\r' && line[1] == '\n'))) {
			if ((r = emit(&w, all_comments(&w) ? SMP_JOURNAL_VOIDED
							  : SMP_JOURNAL_LEGACY)) != 0)
				goto out;
			continue;
		}
		if (w.in == 1 && starts(line, "# smimepub end ")) {
			size_t end_at = w.len;

			if ((r = buf_add(&w, line, len, err)) != 0)
				goto out;
			if ((r = emit(&w, judge(&w, end_at))) != 0)
				goto out;
			continue;
		}
		if ((r = buf_add(&w, line, len, err)) != 0)
			goto out;
	}
	if (ferror(fp)) {
		r = smp_error_set(err, SMP_ERR_NOFILE, "cannot read journal '%s': %s", path,
				  strerror(errno));
		goto out;
	}
	if (w.in != 0 && (r = emit(&w, w.in == 2 ? (all_comments(&w) ? SMP_JOURNAL_VOIDED
								  : SMP_JOURNAL_LEGACY)
						 : SMP_JOURNAL_TORN)) != 0)
		goto out;
	r = 0;
out:
	if (fp != NULL)
		fclose(fp);
	free(line);
	free(w.buf);
	free(own);
	return r;
}

void smp_journal_change_free(smp_journal_change *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n_changes; i++) {
		free((char *)c->changes[i].attr);
		smp_bervals_free(c->changes[i].del, c->changes[i].n_del);
		smp_bervals_free(c->changes[i].add, c->changes[i].n_add);
	}
	free(c->changes);
	for (size_t i = 0; i < c->n_values; i++)
		free(c->attrs[i]);
	free(c->attrs);
	smp_bervals_free(c->values, c->n_values);
	free(c->dn);
	free(c);
}

static size_t count_values(struct berval **v)
{
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

/* A copy of the n values v (NULL-terminated pointer array) as one berval array. */
static struct berval *copy_values(struct berval **v, size_t n)
{
	struct berval *flat = calloc(n + 1, sizeof(*flat));

	if (flat == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		flat[i] = *v[i];
	{
		struct berval *dup = smp_bervals_dup(flat, n);

		free(flat);
		return dup;
	}
}

/*
 * Refuses, before ldap_parse_ldif_record sees it, a record with a line smimepub never writes
 * and libldap 2.5 mishandles:
 *   - a line that names no attribute (": value"), or a "-" before any add:/delete:/replace:
 *     line: as an add record's first attribute, libldap dereferences its NULL name (found by
 *     tests/fuzz/fuzz_journal.c); elsewhere it came back as an attribute called "";
 *   - a value given by URL ("attr:< file:///..."), which libldap reads from the local file
 *     (ldif_parse_line2 does, whatever its freeval): undo would send a file's contents to the
 *     directory, or read /dev/zero without end;
 *   - a control line, whose value may be such a URL too.
 * The lines are libldap's own (ldif_getline unfolds them and skips comments); of each, only
 * what ldif_parse_line2 decides by is looked at: the name, blanks around it, up to the first
 * ':', and the character after it ('<': a URL). text is a copy, changed in place.
 */
static int check_lines(char *text, smp_error *err)
{
	static const char *const modops[] = { "add", "delete", "replace", "increment" };
	char *next = text, *line;
	int modop = 0;

	while ((line = ldif_getline(&next)) != NULL) {
		char *name = line, *colon;
		size_t n;

		if (strcmp(line, "-") == 0) {
			if (!modop)
				return smp_error_set(err, SMP_ERR_BADINPUT, "journal record has a '-' "
						     "line outside a modification");
			continue;
		}
		while (isspace((unsigned char)*name))
			name++;
		if ((colon = strchr(name, ':')) == NULL)
			continue;  /* not "name: value": libldap refuses the record itself */
		n = (size_t)(colon - name);
		while (n > 0 && isspace((unsigned char)name[n - 1]))
			n--;
		if (n == 0)
			return smp_error_set(err, SMP_ERR_BADINPUT,
					     "journal record has a line that names no attribute");
		if (colon[1] == '<')
			return smp_error_set(err, SMP_ERR_BADINPUT,
					     "journal record takes a value from a URL");
		if (n == strlen("control") && strncasecmp(name, "control", n) == 0)
			return smp_error_set(err, SMP_ERR_BADINPUT,
					     "journal record has a control line");
		for (size_t i = 0; i < sizeof(modops) / sizeof(modops[0]); i++)
			if (n == strlen(modops[i]) && strncasecmp(name, modops[i], n) == 0)
				modop = 1;
	}
	return 0;
}

int smp_journal_parse(smp_journal_change **out, const char *text, size_t len, smp_error *err)
{
	smp_journal_change *c = NULL;
	LDIFRecord lr;
	struct berval bv;
	char *copy = NULL;
	int r = SMP_ERR_INTERNAL, parsed = 0;
	size_t nm = 0;

	*out = NULL;
	memset(&lr, 0, sizeof(lr));
	c = calloc(1, sizeof(*c));
	copy = malloc(len + 1);
	if (c == NULL || copy == NULL)
		goto nomem;
	memcpy(copy, text, len);
	copy[len] = '\0';
	if ((r = check_lines(copy, err)) != 0)
		goto out;
	memcpy(copy, text, len);  /* check_lines worked on it in place */
	copy[len] = '\0';
	bv.bv_val = copy;
	bv.bv_len = len;
	parsed = 1;  /* ldap_parse_ldif_record may hold memory even when it fails */
	if (ldap_parse_ldif_record(&bv, 1, &lr, "journal", 0) != 0 || lr.lr_dn.bv_val == NULL) {
		r = smp_error_set(err, SMP_ERR_BADINPUT, "journal record is not an LDIF change record");
		goto out;
	}
	if ((c->dn = strdup(lr.lr_dn.bv_val)) == NULL)
		goto nomem;
	while (lr.lrop_mods != NULL && lr.lrop_mods[nm] != NULL)
		nm++;
	switch (lr.lr_op) {
	case LDAP_REQ_MODIFY:
		c->op = SMP_JOURNAL_MODIFY;
		if ((c->changes = calloc(nm + 1, sizeof(*c->changes))) == NULL)
			goto nomem;
		for (size_t i = 0; i < nm; i++) {
			LDAPMod *m = lr.lrop_mods[i];
			int op = m->mod_op & ~LDAP_MOD_BVALUES;
			size_t nv = count_values(m->mod_bvalues);
			smp_change *ch = &c->changes[c->n_changes];

			if ((op != LDAP_MOD_DELETE && op != LDAP_MOD_ADD) || nv == 0) {
				/* never written by smimepub: a blind replace or a whole-attribute
				   delete would clobber what others wrote */
				r = smp_error_set(err, SMP_ERR_BADINPUT,
						  "journal record for '%s' holds a %s of '%s' without "
						  "exact values", c->dn,
						  op == LDAP_MOD_REPLACE ? "replace" : "delete",
						  m->mod_type);
				goto out;
			}
			if ((ch->attr = strdup(m->mod_type)) == NULL)
				goto nomem;
			c->n_changes++;
			if (op == LDAP_MOD_DELETE) {
				if ((ch->del = copy_values(m->mod_bvalues, nv)) == NULL)
					goto nomem;
				ch->n_del = nv;
			} else {
				if ((ch->add = copy_values(m->mod_bvalues, nv)) == NULL)
					goto nomem;
				ch->n_add = nv;
			}
		}
		break;
	case LDAP_REQ_DELETE:
		c->op = SMP_JOURNAL_DELETE;
		break;
	case LDAP_REQ_ADD: {
		size_t total = 0, k = 0;

		c->op = SMP_JOURNAL_ADD;
		for (size_t i = 0; i < nm; i++)
			total += count_values(lr.lrop_mods[i]->mod_bvalues);
		c->attrs = calloc(total + 1, sizeof(*c->attrs));
		c->values = calloc(total + 1, sizeof(*c->values));
		if (c->attrs == NULL || c->values == NULL)
			goto nomem;
		for (size_t i = 0; i < nm; i++) {
			LDAPMod *m = lr.lrop_mods[i];

			for (size_t v = 0; m->mod_bvalues != NULL && m->mod_bvalues[v] != NULL; v++) {
				struct berval *d = smp_bervals_dup(m->mod_bvalues[v], 1);

				if (d == NULL || (c->attrs[k] = strdup(m->mod_type)) == NULL) {
					smp_bervals_free(d, d != NULL ? 1 : 0);
					goto nomem;
				}
				c->values[k] = d[0];
				free(d);
				c->n_values = ++k;
			}
		}
		break;
	}
	default:
		r = smp_error_set(err, SMP_ERR_BADINPUT,
				  "journal record for '%s' is not a modify, add or delete", c->dn);
		goto out;
	}
	*out = c;
	c = NULL;
	r = 0;
	goto out;
nomem:
	r = smp_error_set(err, SMP_ERR_NOMEM, "cannot read journal record: out of memory");
out:
	if (parsed)
		ldap_ldif_record_done(&lr);
	smp_journal_change_free(c);
	free(copy);
	return r;
}
