/*
 * smimepub serve: the helpdesk's HTTP API (SPEC §8) on libmicrohttpd.
 *
 * Everything that arrives is hostile until checked: bodies are cut at 1 MiB (413), a login
 * binds to the directory as the person (no service password: the directory's own permissions
 * and audit log apply) and failed logins are counted per client address (429), sessions are
 * 256-bit random ids in an HttpOnly, SameSite=Strict cookie that expire when idle, and every
 * POST or DELETE of a session must carry its CSRF token in a header. Every response carries a
 * Content-Security-Policy that allows no inline script and no other origin.
 *
 * libmicrohttpd runs every request in its one polling thread, so the sessions, their directory
 * connections and the shared trust store are only ever used by that thread; the main thread
 * waits for SIGINT/SIGTERM and stops the daemon.
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "smimepub/engine.h"
#include "smimepub/secret.h"

#include "advice.h"
#include "cli.h"
#include "publish.h"
#include "report.h"
#include "stop.h"
#include "web.h"

#define BODY_MAX (1024 * 1024)       /* SPEC §8: bodies over 1 MiB are 413 */
#define DISCARD_MAX (16 * 1024 * 1024)  /* of a body too large, read and dropped at most */
#define LOGIN_BODY_MAX 8192
#define SESSIONS_MAX 256
#define FAILURES_MAX 5               /* failed logins per client address ... */
#define FAILURE_WINDOW 300           /* ... within this many seconds, then 429 */
#define CLIENTS_MAX 1024             /* addresses whose failures are remembered */
#define COOKIE "smp_session"

#define SECURITY_POLICY "default-src 'none'; script-src 'self'; style-src 'self'; " \
	"img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; " \
	"frame-ancestors 'none'"

struct web_session {
	char id[65];          /* hex of 32 random bytes */
	char csrf[65];
	char *user;
	char *who;            /* the bind identity, as the journal's records name it */
	smp_dir *dir;         /* bound as the person */
	smp_session *s;
	time_t last_used;
};

struct failures {
	char addr[INET6_ADDRSTRLEN];
	int count;
	time_t first;
};

struct server {
	const struct cli_opts *o;
	smp_trust *trust;
	int tls;
	char *updir;          /* private directory for uploads being read */
	struct web_session *sessions[SESSIONS_MAX];
	struct failures fails[CLIENTS_MAX];
};

struct request {
	char *body;
	size_t len;       /* of the body, or what was dropped of it when too_large */
	int too_large;    /* it grew past BODY_MAX: the rest is dropped, then 413 */
	int answered;     /* a response is queued already */
};

static void free_json_text(char *text)
{
	json_malloc_t m;
	json_free_t f;

	json_get_alloc_funcs(&m, &f);
	f(text);
}

static void security_headers(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "Content-Security-Policy", SECURITY_POLICY);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
}

/* Queues body (taken) as the JSON response; cookie: a Set-Cookie value, or NULL. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, json_t *body,
			     const char *cookie)
{
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	json_decref(body);
	if (text == NULL)
		return MHD_NO;  /* out of memory: drop the connection */
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY);
	free_json_text(text);
	if (resp == NULL)
		return MHD_NO;
	security_headers(resp);
	MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
	if (cookie != NULL)
		MHD_add_response_header(resp, "Set-Cookie", cookie);
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result error_reply(struct MHD_Connection *c, unsigned status, const char *code,
				   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum MHD_Result error_reply(struct MHD_Connection *c, unsigned status, const char *code,
				   const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return reply(c, status, json_pack("{s:s, s:s}", "error", code, "message", msg), NULL);
}

static int random_hex(char out[65])
{
	unsigned char raw[32];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

static void session_free(struct web_session *ws)
{
	if (ws == NULL)
		return;
	smp_session_free(ws->s);
	if (ws->dir != NULL)
		smp_dir_close(ws->dir);  /* logout closes the person's directory connection */
	free(ws->user);
	free(ws->who);
	OPENSSL_cleanse(ws, sizeof(*ws));
	free(ws);
}

/* The session the request's cookie names (compared in constant time), idle ones dropped. */
static struct web_session *find_session(struct server *sv, struct MHD_Connection *c)
{
	const char *id = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE);
	time_t now = time(NULL);
	struct web_session *found = NULL;

	for (int i = 0; i < SESSIONS_MAX; i++) {
		struct web_session *ws = sv->sessions[i];

		if (ws == NULL)
			continue;
		if (now - ws->last_used > sv->o->idle_timeout) {
			session_free(ws);
			sv->sessions[i] = NULL;
			continue;
		}
		if (id != NULL && strlen(id) == 64 && CRYPTO_memcmp(id, ws->id, 64) == 0)
			found = ws;
	}
	if (found != NULL)
		found->last_used = now;
	return found;
}

static void client_address(struct MHD_Connection *c, char out[INET6_ADDRSTRLEN])
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

	snprintf(out, INET6_ADDRSTRLEN, "?");
	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
			  INET6_ADDRSTRLEN);
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
			  INET6_ADDRSTRLEN);
}

/* The failure count of addr within the window (its slot, or a free or the oldest one). */
static struct failures *failures_of(struct server *sv, const char *addr)
{
	struct failures *free_slot = NULL, *oldest = &sv->fails[0], *slot;
	time_t now = time(NULL);

	for (int i = 0; i < CLIENTS_MAX; i++) {
		struct failures *f = &sv->fails[i];

		if (f->count > 0 && now - f->first > FAILURE_WINDOW)
			f->count = 0;
		if (f->count > 0 && strcmp(f->addr, addr) == 0)
			return f;
		if (f->count == 0 && free_slot == NULL)
			free_slot = f;
		if (f->first < oldest->first)
			oldest = f;
	}
	/* a new address: a free slot, or (the table full) the oldest address's */
	slot = free_slot != NULL ? free_slot : oldest;
	snprintf(slot->addr, sizeof(slot->addr), "%s", addr);
	slot->count = 0;
	slot->first = now;
	return slot;
}

static int add_session(struct server *sv, struct web_session *ws)
{
	for (int i = 0; i < SESSIONS_MAX; i++)
		if (sv->sessions[i] == NULL) {
			sv->sessions[i] = ws;
			return 0;
		}
	return -1;
}

/*
 * --login-attribute: the DN whose attribute is the name given ("jdoe" as uid), found on an
 * anonymous connection (serve keeps no password of its own to search with).
 */
static int find_login(const struct server *sv, const char *name, char **dn, smp_error *err)
{
	smp_conn_options conn = sv->o->conn;
	smp_dir *anon = NULL;
	int r;

	conn.binddn = NULL;
	conn.password = NULL;
	if ((r = smp_dir_open(&anon, &conn, err)) != 0)
		return r;
	r = smp_dir_find_login(anon, sv->o->login_attribute, name, dn, err);
	smp_dir_close(anon);
	return r;
}

/* POST /api/session {"user", "password"}: a bind as the person. */
static enum MHD_Result login(struct server *sv, struct MHD_Connection *c, struct request *rq)
{
	const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	smp_conn_options conn = sv->o->conn;
	smp_session_options so = SMP_SESSION_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	struct web_session *ws = NULL;
	char addr[INET6_ADDRSTRLEN], cookie[160];
	struct failures *f;
	const char *user, *pwtext;
	char *pw = NULL, *dn = NULL;
	json_t *in;
	int r, status, by_name;

	client_address(c, addr);
	f = failures_of(sv, addr);
	if (f->count >= FAILURES_MAX)
		return error_reply(c, 429, "too_many_failures", "too many failed logins from %s: "
				   "wait %d minutes", addr, FAILURE_WINDOW / 60);
	/* a form another site posts cannot set this type without the browser asking first */
	if (type == NULL || strncmp(type, "application/json", 16) != 0)
		return error_reply(c, 415, "bad_request", "a login is a JSON body "
				   "(Content-Type: application/json)");
	if (rq->len > LOGIN_BODY_MAX)
		return error_reply(c, 413, "too_large", "a login body is at most %d bytes",
				   LOGIN_BODY_MAX);
	in = json_loadb(rq->body != NULL ? rq->body : "", rq->len, 0, NULL);
	if (rq->body != NULL)
		explicit_bzero(rq->body, rq->len);
	user = json_string_value(json_object_get(in, "user"));
	pwtext = json_string_value(json_object_get(in, "password"));
	if (user == NULL || *user == '\0' || pwtext == NULL) {
		json_decref(in);
		return error_reply(c, 400, "bad_request", "a login needs \"user\" and \"password\"");
	}
	if (*pwtext == '\0') {
		/* an empty password is an unauthenticated bind, which the directory may accept */
		json_decref(in);
		f->count++;
		return error_reply(c, 401, "bind_refused", "an empty password is refused");
	}
	pw = smp_secret_strdup(pwtext);
	explicit_bzero((char *)pwtext, strlen(pwtext));
	if (pw == NULL || (ws = calloc(1, sizeof(*ws))) == NULL ||
	    (ws->user = strdup(user)) == NULL) {
		json_decref(in);
		smp_secret_free(pw);
		session_free(ws);
		return error_reply(c, 500, "internal", "out of memory");
	}
	json_decref(in);
	conn.binddn = ws->user;
	if (sv->o->login_attribute != NULL && strchr(ws->user, '=') == NULL &&
	    (r = find_login(sv, ws->user, &dn, &err)) != 0) {
		smp_secret_free(pw);
		session_free(ws);
		if (smp_exit_status(r) == 69)
			return error_reply(c, 503, "directory_unavailable", "%s", err.msg);
		f->count++;
		return error_reply(c, 401, "bind_refused", "%s", r == SMP_ERR_ACCESS
				   ? "unknown user or wrong password" : err.msg);
	}
	if (dn != NULL)
		conn.binddn = dn;
	conn.password = pw;
	r = smp_dir_open(&ws->dir, &conn, &err);
	by_name = dn != NULL;
	free(dn);
	smp_secret_free(pw);  /* no reconnect: the session ends with its connection */
	if (r == 0) {
		smp_dir_forget_password(ws->dir);
		so.dir = ws->dir;
		so.trust = sv->trust;
		r = smp_session_new(&ws->s, &so, &err);
		if (r == 0 && (ws->who = smp_dir_identity(ws->dir)) == NULL)
			r = smp_error_set(&err, SMP_ERR_NOMEM, "out of memory");
	}
	if (r != 0) {
		status = smp_exit_status(r);
		session_free(ws);
		if (status == 77) {
			f->count++;
			/* a name looked up: the same words as for a name that is not there */
			return error_reply(c, 401, "bind_refused", "%s", by_name
					   ? "unknown user or wrong password" : err.msg);
		}
		return error_reply(c, status == 69 ? 503 : 500, status == 69
				   ? "directory_unavailable" : "internal", "%s", err.msg);
	}
	if (random_hex(ws->id) != 0 || random_hex(ws->csrf) != 0 || add_session(sv, ws) != 0) {
		session_free(ws);
		return error_reply(c, 503, "too_many_sessions", "no room for another session");
	}
	ws->last_used = time(NULL);
	snprintf(cookie, sizeof(cookie), COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict%s", ws->id,
		 sv->tls ? "; Secure" : "");
	if (sv->o->verbose)
		fprintf(stderr, "smimepub: %s logged in from %s\n", ws->user, addr);
	return reply(c, 200, json_pack("{s:s, s:s}", "user", ws->user, "csrf", ws->csrf), cookie);
}

static enum MHD_Result logout(struct server *sv, struct MHD_Connection *c,
			      struct web_session *ws)
{
	for (int i = 0; i < SESSIONS_MAX; i++)
		if (sv->sessions[i] == ws)
			sv->sessions[i] = NULL;
	session_free(ws);
	return reply(c, 200, json_object(),
		     COOKIE "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
}

/* The records a runner wrote as JSON Lines into text[0..len), as one array. */
static json_t *records_array(const char *text, size_t len)
{
	json_t *arr = json_array();
	size_t at = 0;

	while (arr != NULL && at < len) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t n = nl != NULL ? (size_t)(nl - (text + at)) : len - at;
		json_t *rec = n > 0 ? json_loadb(text + at, n, 0, NULL) : NULL;

		if (rec != NULL)
			json_array_append_new(arr, rec);
		at += n + 1;
	}
	return arr;
}

/* A JSON-format output into a memory stream: what --format json would print. */
static FILE *json_out(struct cli_out *out, const struct cli_opts *o, char **text, size_t *len)
{
	FILE *fp = open_memstream(text, len);

	cli_out_init(out, o, fp);
	out->format = CLI_FMT_JSON;
	out->quiet = 0;
	return fp;
}

/* GET /api/lookup?address=A */
static enum MHD_Result api_lookup(struct server *sv, struct MHD_Connection *c,
				  struct web_session *ws)
{
	const char *address = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "address");
	smp_error err = SMP_ERROR_INIT;
	struct cli_out out;
	char *text = NULL;
	size_t len = 0;
	FILE *fp;
	json_t *results;
	int r;

	if (address == NULL || *address == '\0')
		return error_reply(c, 400, "bad_request", "lookup needs ?address=");
	if ((fp = json_out(&out, sv->o, &text, &len)) == NULL)
		return error_reply(c, 500, "internal", "out of memory");
	r = cli_lookup_run(ws->s, ws->dir, &out, address, &err);
	fclose(fp);
	if (r != 0) {
		free(text);
		return error_reply(c, smp_exit_status(r) == 69 ? 503 : 500,
				   smp_exit_status(r) == 69 ? "directory_unavailable" : "internal",
				   "%s", err.msg);
	}
	results = records_array(text, len);
	free(text);
	return reply(c, 200, json_pack("{s:o}", "results", results), NULL);
}

/* The body in a new file of the upload directory (the engine reads files); its path, or NULL. */
static char *upload_file(const struct server *sv, const struct request *rq)
{
	char *path = NULL;
	int fd;

	if (asprintf(&path, "%s/upload.XXXXXX", sv->updir) < 0)
		return NULL;
	if ((fd = mkstemp(path)) < 0) {
		free(path);
		return NULL;
	}
	if (write(fd, rq->body, rq->len) != (ssize_t)rq->len) {
		close(fd);
		unlink(path);
		free(path);
		return NULL;
	}
	close(fd);
	return path;
}

/* text with the upload's path (the first time it appears) as "upload"; NULL: no memory. */
static char *without_path(const char *text, const char *path)
{
	const char *at = strstr(text, path);
	char *out = NULL;

	if (at == NULL)
		return strdup(text);
	if (asprintf(&out, "%.*supload%s", (int)(at - text), text, at + strlen(path)) < 0)
		return NULL;
	return out;
}

/* The upload's name in a record is "upload": file, and in the LDIF's comment. 0 or -1. */
static int scrub_upload(json_t *rec, const char *path)
{
	const char *ldif = json_string_value(json_object_get(rec, "ldif"));
	char *fixed;
	int r = 0;

	if (json_object_get(rec, "file") != NULL)
		r |= json_object_set_new(rec, "file", json_string("upload"));
	if (ldif != NULL) {
		if ((fixed = without_path(ldif, path)) == NULL)
			return -1;
		r |= json_object_set_new(rec, "ldif", json_string(fixed));
		free(fixed);
	}
	return r != 0 ? -1 : 0;
}

/* POST /api/inspect, the body a file in any form inspect reads. */
static enum MHD_Result api_inspect(struct server *sv, struct MHD_Connection *c,
				   struct web_session *ws, struct request *rq)
{
	smp_error err = SMP_ERROR_INIT;
	struct cli_out out;
	char *path = NULL, *text = NULL, *failure = NULL;
	size_t len = 0, i;
	FILE *fp = NULL;
	json_t *results, *rec;
	int r, critical = 0;
	enum MHD_Result ret;

	if (rq->len == 0)
		return error_reply(c, 400, "bad_request", "inspect needs the file as the body");
	if ((path = upload_file(sv, rq)) == NULL)
		return error_reply(c, 500, "internal", "cannot keep the upload: %s",
				   strerror(errno));
	if ((fp = json_out(&out, sv->o, &text, &len)) == NULL) {
		r = SMP_ERR_NOMEM;
	} else {
		const char *paths[1] = { path };

		r = cli_inspect_run(ws->s, &out, paths, 1, &critical, &failure, &err);
		fclose(fp);
	}
	unlink(path);
	if (r != 0) {
		free(path);
		free(text);
		free(failure);
		return error_reply(c, 500, "internal", "%s", err.msg);
	}
	results = records_array(text, len);
	free(text);
	if (json_array_size(results) == 0) {
		char *said = failure != NULL ? without_path(failure, path) : NULL;

		json_decref(results);
		ret = error_reply(c, 422, "bad_input", "%s", said != NULL ? said
				  : "no certificate or message found in the upload");
		free(said);
		free(failure);
		free(path);
		return ret;
	}
	free(failure);
	json_array_foreach(results, i, rec)
		if (scrub_upload(rec, path) != 0) {
			free(path);
			json_decref(results);
			return error_reply(c, 500, "internal", "out of memory");
		}
	free(path);
	return reply(c, 200, json_pack("{s:o}", "results", results), NULL);
}

/* A query flag: "1" is set, "0" or absent is dflt's; anything else -1. */
static int query_flag(struct MHD_Connection *c, const char *name, int dflt)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);

	if (v == NULL)
		return dflt;
	if (strcmp(v, "1") == 0)
		return 1;
	return strcmp(v, "0") == 0 ? 0 : -1;
}

/*
 * One request's run of a writing command (publish, remove, undo) over the person's
 * connection: a session of its own with the server's journal, whose records name the person
 * (the bind identity), and the records --format json would print in a memory stream.
 */
struct api_run {
	struct cli_opts o;
	struct cli_run run;
	FILE *fp;
	char *text;
	size_t len;
};

/* The server's options for a->o, which the caller may change before api_run_open. */
static void api_run_init(struct api_run *a, const struct server *sv)
{
	a->o = *sv->o;
	a->o.format = CLI_FMT_JSON;
	a->o.quiet = 0;
	a->o.dry_run = 0;
}

static int api_run_open(struct api_run *a, const struct server *sv, smp_dir *dir,
			const char *command)
{
	a->text = NULL;
	a->len = 0;
	cli_run_start(&a->run, &a->o);
	if ((a->fp = open_memstream(&a->text, &a->len)) == NULL)
		return -1;
	a->run.out.fp = a->fp;
	if (cli_run_open(&a->run, dir, sv->trust, command) != 0) {
		fclose(a->fp);
		free(a->text);
		return -1;
	}
	return 0;
}

/* The run's records (a new array) and its status; the run released. */
static json_t *api_run_close(struct api_run *a, int *status)
{
	json_t *results;

	*status = cli_run_release(&a->run);
	fclose(a->fp);
	results = records_array(a->text, a->len);
	free(a->text);
	return results;
}

static enum MHD_Result run_reply(struct MHD_Connection *c, json_t *results, int status)
{
	if (results == NULL)
		return error_reply(c, 500, "internal", "out of memory");
	return reply(c, 200, json_pack("{s:o, s:i}", "results", results, "status", status), NULL);
}

/* POST /api/publish?dry_run=1|0[&add=1|&replace=1][&force=1], the body the file. */
static enum MHD_Result api_publish(struct server *sv, struct MHD_Connection *c,
				   struct web_session *ws, struct request *rq)
{
	int dry = query_flag(c, "dry_run", 1), add = query_flag(c, "add", 0);
	int replace = query_flag(c, "replace", 0), force = query_flag(c, "force", 0);
	smp_publish_options po;
	smp_error err = SMP_ERROR_INIT;
	struct api_run a;
	const char *paths[1];
	char *path;
	json_t *results, *rec;
	size_t i;
	int status;

	if (dry < 0 || add < 0 || replace < 0 || force < 0 || (add && replace))
		return error_reply(c, 400, "bad_request", "publish takes dry_run=0|1 and at most one "
				   "of add=1 and replace=1, and force=1");
	if (rq->len == 0)
		return error_reply(c, 400, "bad_request", "publish needs the file as the body");
	if ((path = upload_file(sv, rq)) == NULL)
		return error_reply(c, 500, "internal", "cannot keep the upload: %s",
				   strerror(errno));
	api_run_init(&a, sv);
	a.o.dry_run = dry;
	a.o.policy.add = add;
	a.o.policy.replace = replace;
	a.o.policy.force = force;
	a.o.create_contact = 0;
	if (api_run_open(&a, sv, ws->dir, "publish") != 0) {
		unlink(path);
		free(path);
		return error_reply(c, 500, "internal", "cannot start the run");
	}
	cli_publish_options(&po, &a.run);
	po.on_progress = NULL;
	paths[0] = path;
	if (smp_publish_paths(a.run.session, &po, paths, 1, &err) != 0) {
		cli_error_of(&err);
		smp_session_note_status(a.run.session, 1);
	}
	results = api_run_close(&a, &status);
	unlink(path);
	json_array_foreach(results, i, rec)
		if (scrub_upload(rec, path) != 0) {
			json_decref(results);
			results = NULL;
			break;
		}
	free(path);
	return run_reply(c, results, status);
}

/* POST /api/remove {"address" | "dn", "fingerprint"}[?dry_run=1] */
static enum MHD_Result api_remove(struct server *sv, struct MHD_Connection *c,
				  struct web_session *ws, struct request *rq)
{
	smp_remove_options ro = SMP_REMOVE_OPTIONS_INIT;
	smp_existing none = { NULL, NULL, 0 };
	smp_error err = SMP_ERROR_INIT;
	smp_plan *probe = NULL;
	int dry = query_flag(c, "dry_run", 0), status;
	json_t *in = json_loadb(rq->body != NULL ? rq->body : "", rq->len, 0, NULL), *results;
	const char *address = json_string_value(json_object_get(in, "address"));
	const char *dn = json_string_value(json_object_get(in, "dn"));
	const char *fp = json_string_value(json_object_get(in, "fingerprint"));
	const char *target = address != NULL ? address : dn;
	struct api_run a;

	if (dry < 0 || fp == NULL || (address == NULL) == (dn == NULL) || *target == '\0') {
		json_decref(in);
		return error_reply(c, 400, "bad_request", "remove takes {\"address\" or \"dn\", "
				   "\"fingerprint\"}");
	}
	ro.sel.fingerprint = fp;
	if (smp_plan_remove(&probe, &none, &ro.sel) == SMP_ERR_USAGE) {
		json_decref(in);
		return error_reply(c, 400, "bad_request", "the fingerprint is not a SHA-256 (64 hex "
				   "digits) nor a SHA-1 thumbprint (40)");
	}
	smp_plan_free(probe);
	api_run_init(&a, sv);
	a.o.dry_run = dry;
	if (api_run_open(&a, sv, ws->dir, "remove") != 0) {
		json_decref(in);
		return error_reply(c, 500, "internal", "cannot start the run");
	}
	ro.as_dn = dn != NULL;
	ro.on_item = cli_remove_item;
	ro.ctx = &a.run;
	if (smp_remove(a.run.session, &ro, target, &err) != 0) {
		cli_error_of(&err);
		smp_session_note_status(a.run.session, smp_exit_status(err.code));
	}
	json_decref(in);
	results = api_run_close(&a, &status);
	return run_reply(c, results, status);
}

struct journal_filter {
	struct cli_run *run;
	const char *who;
	size_t shown, max;
	const char *record;   /* api_undo: the record looked for, or NULL */
	int found;
};

/* The person's own records only, newest first, at most max. */
static int journal_mine(const smp_item *it, void *ctx)
{
	struct journal_filter *f = ctx;

	if (it->message == NULL || strcmp(it->message, f->who) != 0)
		return 0;
	if (f->record != NULL) {
		f->found |= it->record != NULL && strcmp(it->record, f->record) == 0;
		return 0;
	}
	if (f->shown++ >= f->max)
		return 1;
	return cli_journal_item(it, f->run);
}

/* Walks the journal as the person through filter f; 0 or -1 with err set. */
static int journal_walk(struct api_run *a, struct journal_filter *f, smp_error *err)
{
	f->run = &a->run;
	return smp_journal_list(a->run.session, journal_mine, f, err);
}

/* GET /api/journal: the person's own records, newest first (?limit=, default 50). */
static enum MHD_Result api_journal(struct server *sv, struct MHD_Connection *c,
				   struct web_session *ws)
{
	const char *limit = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
	struct journal_filter f = { NULL, NULL, 0, 50, NULL, 0 };
	smp_error err = SMP_ERROR_INIT;
	struct api_run a;
	json_t *results;
	int status;

	if (limit != NULL && (atoi(limit) < 1 || atoi(limit) > 1000))
		return error_reply(c, 400, "bad_request", "limit is 1 to 1000");
	if (limit != NULL)
		f.max = (size_t)atoi(limit);
	api_run_init(&a, sv);
	if (api_run_open(&a, sv, NULL, "undo") != 0)
		return error_reply(c, 500, "internal", "cannot start the run");
	f.who = ws->who;
	if (journal_walk(&a, &f, &err) != 0) {
		cli_error_of(&err);
		smp_session_note_status(a.run.session, smp_exit_status(err.code));
	}
	results = api_run_close(&a, &status);
	return run_reply(c, results, status);
}

/* POST /api/undo {"record": ID}: one of the person's own records. */
static enum MHD_Result api_undo(struct server *sv, struct MHD_Connection *c,
				struct web_session *ws, struct request *rq)
{
	json_t *in = json_loadb(rq->body != NULL ? rq->body : "", rq->len, 0, NULL), *results;
	const char *id = json_string_value(json_object_get(in, "record"));
	struct journal_filter f = { NULL, NULL, 0, 0, NULL, 0 };
	smp_undo_options uo = SMP_UNDO_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	struct api_run a;
	int status;

	if (id == NULL || *id == '\0') {
		json_decref(in);
		return error_reply(c, 400, "bad_request", "undo takes {\"record\": ID}");
	}
	api_run_init(&a, sv);
	if (api_run_open(&a, sv, ws->dir, "undo") != 0) {
		json_decref(in);
		return error_reply(c, 500, "internal", "cannot start the run");
	}
	f.who = ws->who;
	f.record = id;
	if (journal_walk(&a, &f, &err) != 0 || !f.found) {
		enum MHD_Result ret = error_reply(c, 404, "no_such_record", "no record '%s' of yours "
						  "in the journal", id);

		json_decref(api_run_close(&a, &status));
		json_decref(in);
		return ret;
	}
	uo.records = &id;
	uo.n_records = 1;
	uo.on_item = cli_item_print;
	uo.ctx = &a.run;
	if (smp_undo(a.run.session, &uo, &err) != 0) {
		cli_error_of(&err);
		smp_session_note_status(a.run.session, smp_exit_status(err.code));
	}
	results = api_run_close(&a, &status);
	json_decref(in);
	return run_reply(c, results, status);
}

struct audit_page {
	size_t offset, limit, total;
	json_t *findings;
	json_t *summary;
};

/* Keeps the summary and the findings (records with problems) of the page asked for. */
static int audit_record(const json_t *rec, void *ctx)
{
	struct audit_page *p = ctx;
	const char *type = report_str(rec, "type");

	if (strcmp(type, "summary") == 0) {
		json_decref(p->summary);
		p->summary = json_deep_copy(rec);
		return p->summary != NULL ? 0 : -1;
	}
	if (json_array_size(json_object_get(rec, "problems")) == 0 &&
	    strcmp(type, "referral") != 0)
		return 0;
	if (p->total++ >= p->offset && json_array_size(p->findings) < p->limit)
		return json_array_append(p->findings, (json_t *)rec);
	return 0;
}

/* Query number name in [0, max], dflt when absent; -1 when not a number in range. */
static long query_number(struct MHD_Connection *c, const char *name, long dflt, long max)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
	char *end;
	long n;

	if (v == NULL)
		return dflt;
	errno = 0;
	n = strtol(v, &end, 10);
	return errno == 0 && end != v && *end == '\0' && n >= 0 && n <= max ? n : -1;
}

/*
 * GET /api/audit?offset=&limit=: the directory audited as the person, {summary, findings:
 * [the records with problems, offset..offset+limit], total, expiry: [{month, count}...] for
 * the chart}. The records stream through the report's aggregator; only the page is kept.
 */
static enum MHD_Result api_audit(struct server *sv, struct MHD_Connection *c,
				 struct web_session *ws)
{
	long offset = query_number(c, "offset", 0, 100000000), limit = query_number(c, "limit",
										   100, 1000);
	struct audit_page page = { 0, 0, 0, NULL, NULL };
	smp_error err = SMP_ERROR_INIT;
	struct report *r = NULL;
	json_t *months = NULL;
	FILE *fp = NULL;
	int status;

	if (offset < 0 || limit < 1)
		return error_reply(c, 400, "bad_request", "offset is 0 or more, limit 1 to 1000");
	page.offset = (size_t)offset;
	page.limit = (size_t)limit;
	if ((page.findings = json_array()) == NULL || (months = json_array()) == NULL ||
	    (r = report_new(sv->o->trust.at != 0 ? sv->o->trust.at : time(NULL), NULL)) == NULL ||
	    (fp = report_sink(r)) == NULL) {
		status = -1;
		goto out;
	}
	r->on_record = audit_record;
	r->on_record_ctx = &page;
	status = cli_audit_run(sv->o, ws->dir, sv->trust, fp, &err);
	if (fclose(fp) != 0)
		status = -1;
	fp = NULL;
	for (int k = 0; status >= 0 && k < REPORT_CHART_MONTHS; k++) {
		char month[16];

		snprintf(month, sizeof(month), "%04d-%02d", r->year + (r->month - 1 + k) / 12,
			 (r->month - 1 + k) % 12 + 1);
		json_array_append_new(months, json_pack("{s:s, s:I}", "month", month, "count",
							(json_int_t)r->months[k]));
	}
out:
	if (fp != NULL)
		fclose(fp);
	report_free(r);
	if (status < 0 || page.summary == NULL) {
		json_decref(page.findings);
		json_decref(page.summary);
		json_decref(months);
		if (status == 3)
			return error_reply(c, 503, "incomplete", "the audit could not complete: %s",
					   err.msg);
		return error_reply(c, 500, "internal", "out of memory");
	}
	return reply(c, 200, json_pack("{s:o, s:o, s:I, s:o, s:i}", "summary", page.summary,
				       "findings", page.findings, "total", (json_int_t)page.total,
				       "expiry", months, "status", status), NULL);
}

static int is_api(const char *url)
{
	static const char *const apis[] = { "/api/session", "/api/lookup", "/api/inspect",
					    "/api/publish", "/api/remove", "/api/journal",
					    "/api/undo", "/api/audit" };

	for (size_t i = 0; i < sizeof(apis) / sizeof(apis[0]); i++)
		if (strcmp(url, apis[i]) == 0)
			return 1;
	return 0;
}

/* GET of the page's files: "/" is index.html. */
static enum MHD_Result page_file(struct MHD_Connection *c, const char *url)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (strcmp(url, "/") == 0)
		url = "/index.html";
	for (const struct web_file *f = web_files; f->path != NULL; f++) {
		if (strcmp(url, f->path) != 0)
			continue;
		resp = MHD_create_response_from_buffer(f->len, (void *)f->data,
						       MHD_RESPMEM_PERSISTENT);
		if (resp == NULL)
			return MHD_NO;
		security_headers(resp);
		MHD_add_response_header(resp, "Content-Type", f->type);
		ret = MHD_queue_response(c, 200, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	return error_reply(c, 404, "not_found", "no such page");
}

static enum MHD_Result route(struct server *sv, struct MHD_Connection *c, const char *url,
			     const char *method, struct request *rq)
{
	int post = strcmp(method, "POST") == 0, del = strcmp(method, "DELETE") == 0;
	int get = strcmp(method, "GET") == 0;
	const char *token;
	struct web_session *ws;

	if (strncmp(url, "/api/", 5) != 0)
		return get ? page_file(c, url) : error_reply(c, 405, "method_not_allowed",
							      "%s is not allowed on %s", method, url);
	ws = find_session(sv, c);
	if (strcmp(url, "/api/session") == 0 && post)
		return login(sv, c, rq);
	if (strcmp(url, "/api/session") == 0 && get && ws == NULL)
		return reply(c, 200, json_pack("{s:n}", "user"), NULL);  /* who am I: nobody */
	if (ws == NULL)
		return error_reply(c, 401, "no_session", "log in first (POST /api/session)");
	if (!get) {
		/* a session's every change carries its token: another site's page cannot */
		token = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
		if (token == NULL || strlen(token) != 64 || CRYPTO_memcmp(token, ws->csrf, 64) != 0)
			return error_reply(c, 403, "csrf", "the X-CSRF-Token header is missing or "
					   "wrong");
	}
	if (strcmp(url, "/api/session") == 0 && del)
		return logout(sv, c, ws);
	if (strcmp(url, "/api/session") == 0 && get)  /* the page, reloaded: who am I */
		return reply(c, 200, json_pack("{s:s, s:s}", "user", ws->user, "csrf", ws->csrf),
			     NULL);
	if (strcmp(url, "/api/lookup") == 0 && get)
		return api_lookup(sv, c, ws);
	if (strcmp(url, "/api/inspect") == 0 && post)
		return api_inspect(sv, c, ws, rq);
	if (strcmp(url, "/api/publish") == 0 && post)
		return api_publish(sv, c, ws, rq);
	if (strcmp(url, "/api/remove") == 0 && post)
		return api_remove(sv, c, ws, rq);
	if (strcmp(url, "/api/journal") == 0 && get)
		return api_journal(sv, c, ws);
	if (strcmp(url, "/api/audit") == 0 && get)
		return api_audit(sv, c, ws);
	if (strcmp(url, "/api/undo") == 0 && post)
		return api_undo(sv, c, ws, rq);
	if (is_api(url))
		return error_reply(c, 405, "method_not_allowed", "%s is not allowed on %s", method,
				   url);
	return error_reply(c, 404, "not_found", "no such API: %s", url);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct server *sv = cls;
	struct request *rq = *con_cls;
	const char *length;

	(void)version;
	if (rq == NULL) {
		if ((rq = calloc(1, sizeof(*rq))) == NULL)
			return MHD_NO;
		*con_cls = rq;
		length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		if (length != NULL && strtoull(length, NULL, 10) > BODY_MAX) {
			/* refused before a byte of it is read; MHD then closes the connection */
			rq->answered = 1;
			return error_reply(c, 413, "too_large", "the body is over the %d-byte limit",
					   BODY_MAX);
		}
		return MHD_YES;
	}
	if (rq->answered) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		char *grown;

		if (rq->too_large || rq->len + *upload_size > BODY_MAX) {
			/*
			 * A body without a length (chunked) that grows past the limit: the rest is
			 * read and dropped, so that the 413 reaches the client (closing with its data
			 * unread would reset the connection), but not without end.
			 */
			if (!rq->too_large) {
				explicit_bzero(rq->body, rq->len);
				free(rq->body);
				rq->body = NULL;
				rq->too_large = 1;
			}
			rq->len += *upload_size;
			*upload_size = 0;
			return rq->len > DISCARD_MAX ? MHD_NO : MHD_YES;
		}
		if ((grown = realloc(rq->body, rq->len + *upload_size)) == NULL)
			return MHD_NO;
		memcpy(grown + rq->len, upload, *upload_size);
		rq->body = grown;
		rq->len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->too_large)
		return error_reply(c, 413, "too_large", "the body is over the %d-byte limit",
				   BODY_MAX);
	return route(sv, c, url, method, rq);
}

static void request_done(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (rq == NULL)
		return;
	if (rq->body != NULL)
		explicit_bzero(rq->body, rq->len);  /* a login's password */
	free(rq->body);
	free(rq);
	*con_cls = NULL;
}

/* "ADDR:PORT" or "[ADDR6]:PORT", numeric only. */
static int parse_listen(const char *spec, struct addrinfo **ai)
{
	struct addrinfo hints;
	char host[64];
	const char *colon = strrchr(spec, ':');
	size_t n;

	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	if (colon == NULL || colon == spec || colon[1] == '\0')
		return -1;
	n = (size_t)(colon - spec);
	if (spec[0] == '[') {
		if (n < 3 || spec[n - 1] != ']')
			return -1;
		spec++;
		n -= 2;
	}
	if (n >= sizeof(host))
		return -1;
	memcpy(host, spec, n);
	host[n] = '\0';
	return getaddrinfo(host, colon + 1, &hints, ai) == 0 ? 0 : -1;
}

static int is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return 0;
}

/* The whole of a small file (TLS key or certificate), NUL-terminated, or NULL. */
static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;
	int ch;

	if (fp == NULL)
		return NULL;
	if ((buf = malloc(65537)) != NULL) {
		while (len < 65536 && (ch = fgetc(fp)) != EOF)
			buf[len++] = (char)ch;
		buf[len] = '\0';
		if (len == 65536 || ferror(fp)) {
			explicit_bzero(buf, len);
			free(buf);
			buf = NULL;
		}
	}
	fclose(fp);
	return buf;
}

int cmd_serve(struct cli_opts *o)
{
	struct server *sv = NULL;
	struct MHD_Daemon *d = NULL;
	struct addrinfo *ai = NULL;
	smp_error err = SMP_ERROR_INIT;
	const union MHD_DaemonInfo *info;
	char *key = NULL, *cert = NULL, tmpl[] = "/tmp/smimepub-serve.XXXXXX";
	const char *listen = o->listen != NULL ? o->listen : "127.0.0.1:8443";
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	int status = 1, r;

	if (o->idle_timeout == 0)
		o->idle_timeout = 900;
	if (o->nargs > 0) {
		cli_error("serve takes no arguments (unexpected '%s')", o->args[0]);
		return 64;
	}
	if (o->conn.binddn != NULL || o->password_file != NULL || o->prompt_password) {
		cli_error("serve binds as each person who logs in: -D, -y and -W are not for it");
		return 64;
	}
	if ((o->tls_cert == NULL) != (o->tls_key == NULL)) {
		cli_error("--tls-cert and --tls-key go together");
		return 64;
	}
	cli_advice_for_page();
	if (parse_listen(listen, &ai) != 0) {
		cli_error("invalid --listen '%s': use ADDRESS:PORT (127.0.0.1:8443, [::1]:8443)",
			  listen);
		return 64;
	}
	if (o->tls_cert == NULL && !is_loopback(ai->ai_addr) && !o->conn.insecure) {
		cli_error("--listen %s: without --tls-cert and --tls-key serve listens on loopback "
			  "only (behind a reverse proxy); --insecure allows passwords in clear on "
			  "the network", listen);
		freeaddrinfo(ai);
		return 64;
	}
	if ((sv = calloc(1, sizeof(*sv))) == NULL) {
		cli_error("serve: out of memory");
		goto out;
	}
	sv->o = o;
	if ((r = cli_trust(&sv->trust, o, &err)) != 0) {
		cli_error_of(&err);
		status = smp_exit_status(r);
		goto out;
	}
	if (smp_trust_sources(sv->trust) & SMP_TRUST_DIRECTORY) {
		cli_error("serve: --trust directory is not supported yet: use --ca-file or the "
			  "system store");
		status = 64;
		goto out;
	}
	if (o->tls_cert != NULL) {
		if ((cert = slurp(o->tls_cert)) == NULL || (key = slurp(o->tls_key)) == NULL) {
			cli_error("cannot read '%s': %s", cert == NULL ? o->tls_cert : o->tls_key,
				  errno != 0 ? strerror(errno) : "too large");
			status = 66;
			goto out;
		}
		flags |= MHD_USE_TLS;
		sv->tls = 1;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (mkdtemp(tmpl) == NULL || (sv->updir = strdup(tmpl)) == NULL) {
		cli_error("serve: cannot create a directory for uploads: %s", strerror(errno));
		goto out;
	}
	d = MHD_start_daemon(flags, 0, NULL, NULL, handle, sv,
			     MHD_OPTION_SOCK_ADDR, ai->ai_addr,
			     MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)128,
			     MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)32,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
			     /* without TLS the list ends here */
			     sv->tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, key,
			     MHD_OPTION_HTTPS_MEM_CERT, cert,
			     MHD_OPTION_END);
	if (d == NULL) {
		cli_error("serve: cannot listen on %s: %s", listen, strerror(errno));
		status = 69;
		goto out;
	}
	/* the port the system chose for :0, which the tests use */
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	fprintf(stderr, "smimepub: serving on %s://%.*s:%u/\n", sv->tls ? "https" : "http",
		(int)(strrchr(listen, ':') - listen), listen,
		info != NULL ? (unsigned)info->port : 0);
	fflush(stderr);
	while (cli_stop == 0) {
		struct timespec t = { 0, 200 * 1000 * 1000 };

		nanosleep(&t, NULL);
	}
	fprintf(stderr, "smimepub: stopping (signal %d)\n", (int)cli_stop);
	status = 0;
out:
	if (d != NULL)
		MHD_stop_daemon(d);
	if (sv != NULL) {
		for (int i = 0; i < SESSIONS_MAX; i++)
			session_free(sv->sessions[i]);
		if (sv->updir != NULL)
			rmdir(sv->updir);
		free(sv->updir);
		smp_trust_free(sv->trust);
		free(sv);
	}
	if (key != NULL)
		explicit_bzero(key, strlen(key));
	free(key);
	free(cert);
	if (ai != NULL)
		freeaddrinfo(ai);
	return status;
}
