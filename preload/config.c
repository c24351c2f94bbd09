/* Settings, read once, at the first module seen: a process that never
 * touches PKCS#11 never reads them.
 *
 * Sources, later ones winning: the defaults, the configuration file
 * (sysconfdir/libp11logout.conf, or P11LOGOUT_CONFIG), the P11LOGOUT_*
 * variables.  In a setuid or other secure-execution process the variables
 * are ignored (secure_getenv), and the file is read only when root owns it
 * and no one else may write it. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "p11logout.h"
#include "libc-late.h"

#ifndef P11L_SYSCONFDIR
#define P11L_SYSCONFDIR "/etc"
#endif
#define CONFIG_FILE_MAX 65536

static struct p11l_config config;
static pthread_once_t config_once = PTHREAD_ONCE_INIT;

static const char *env(const char *name)
{
	return p11l_libc.secure_getenv(name);
}

/* The names of enum p11l_mode, in its order. */
static const char mode_names[][10] = { "logout", "close", "finalize" };

#define P11L_STRING(x) #x
#define P11L_DECIMAL(x) P11L_STRING(x)

static int parse_bool(const char *v, struct p11l_config *c, size_t off)
{
	static const char yes[][6] = { "1", "yes", "true", "on" };
	static const char no[][6] = { "0", "no", "false", "off", "" };
	int *out = (int *)((char *)c + off);

	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (p11l_libc.strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 1;
		}
	}
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
		if (p11l_libc.strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 1;
		}
	}
	return 0;
}

/* A whole decimal number from 0 to MAX, nothing else. */
static int parse_upto(const char *v, unsigned long max, unsigned *out)
{
	unsigned long n = 0;

	if (!*v)
		return 0;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		n = n * 10 + (unsigned long)(*p - '0');
		if (n > max)
			return 0;
	}
	*out = (unsigned)n;
	return 1;
}

static int parse_seconds(const char *v, struct p11l_config *c, size_t off)
{
	return parse_upto(v, P11L_MAX_SECONDS, (unsigned *)((char *)c + off));
}

static int parse_places(const char *v, struct p11l_config *c, size_t off)
{
	return parse_upto(v, P11L_MAX_PLACES, (unsigned *)((char *)c + off));
}

static int parse_mode(const char *v, struct p11l_config *c, size_t off)
{
	enum p11l_mode *out = (enum p11l_mode *)((char *)c + off);

	for (size_t i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++) {
		if (strcmp(v, mode_names[i]) == 0) {
			*out = (enum p11l_mode)i;
			return 1;
		}
	}
	return 0;
}

/* Where the lines go: 0 standard error, 1 syslog. */
static int parse_log(const char *v, struct p11l_config *c, size_t off)
{
	int *out = (int *)((char *)c + off);

	if (strcmp(v, "stderr") == 0 || strcmp(v, "syslog") == 0) {
		*out = strcmp(v, "syslog") == 0;
		return 1;
	}
	return 0;
}

/* Any non-empty text, kept in a copy of its own. */
static int parse_text(const char *v, struct p11l_config *c, size_t off)
{
	char **out = (char **)((char *)c + off);
	char *copy;

	if (!*v)
		return 0;
	copy = strdup(v);
	if (!copy)
		return 0;
	free(*out);
	*out = copy;
	return 1;
}

/* Patterns separated by ':', none longer than module-select.c matches:
 * a pattern it could not use would leave its module unwrapped, silently. */
static int parse_modules(const char *v, struct p11l_config *c, size_t off)
{
	for (const char *p = v; *p;) {
		size_t len = strcspn(p, ":");

		if (len > P11L_PATTERN_MAX)
			return 0;
		p += len;
		if (*p == ':')
			p++;
	}
	return parse_text(v, c, off);
}

/* A list of signal names (TERM, INT, HUP, QUIT, PIPE, USR1, USR2, ALRM,
 * with or without SIG), separated by ',' or blanks; empty: off. */
static const struct { char name[5]; int sig; } signal_names[] = {
	{ "TERM", SIGTERM }, { "INT", SIGINT }, { "HUP", SIGHUP },
	{ "QUIT", SIGQUIT }, { "PIPE", SIGPIPE }, { "USR1", SIGUSR1 },
	{ "USR2", SIGUSR2 }, { "ALRM", SIGALRM },
};

static int parse_signals(const char *v, struct p11l_config *c, size_t off)
{
	unsigned long set = 0;

	(void)off;
	while (*v) {
		size_t len, i;

		if (*v == ',' || *v == ' ' || *v == '\t') {
			v++;
			continue;
		}
		if (strncmp(v, "SIG", 3) == 0)
			v += 3;
		len = strcspn(v, ", \t");
		for (i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
			if (strlen(signal_names[i].name) == len &&
			    strncmp(v, signal_names[i].name, len) == 0)
				break;
		if (i == sizeof signal_names / sizeof signal_names[0])
			return 0;
		set |= 1UL << signal_names[i].sig;
		v += len;
	}
	c->signals = set;
	return 1;
}

/* The list, as the banner and p11-run --show-config print it. */
static void signals_text(unsigned long set, char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
		if (set & (1UL << signal_names[i].sig))
			len += (size_t)p11l_libc.snprintf(out + len, size - len, "%s%s",
						len ? "," : "", signal_names[i].name);
	if (!len)
		p11l_libc.snprintf(out, size, "-");
}

static const struct setting {
	char key[13];
	char variable[24];
	int (*parse)(const char *, struct p11l_config *, size_t);
	size_t offset;
	char expected[44];
} settings[] = {
	{ "debug", "P11LOGOUT_DEBUG", parse_bool,
	  offsetof(struct p11l_config, debug), "0 or 1" },
	{ "timeout", "P11LOGOUT_TIMEOUT", parse_seconds,
	  offsetof(struct p11l_config, timeout),
	  "seconds from 0 to " P11L_DECIMAL(P11L_MAX_SECONDS) },
	{ "wait", "P11LOGOUT_WAIT", parse_seconds,
	  offsetof(struct p11l_config, wait),
	  "seconds from 0 to " P11L_DECIMAL(P11L_MAX_SECONDS) },
	{ "mode", "P11LOGOUT_MODE", parse_mode,
	  offsetof(struct p11l_config, mode), "logout, close or finalize" },
	{ "log", "P11LOGOUT_LOG", parse_log,
	  offsetof(struct p11l_config, log_syslog), "stderr or syslog" },
	{ "modules", "P11LOGOUT_MODULES", parse_modules,
	  offsetof(struct p11l_config, modules),
	  "a list of patterns of at most " P11L_DECIMAL(P11L_PATTERN_MAX) " bytes" },
	{ "module", "P11LOGOUT_MODULE", parse_text,
	  offsetof(struct p11l_config, module), "the path of a PKCS#11 module" },
	{ "signals", "P11LOGOUT_SIGNALS", parse_signals, 0,
	  "a list of TERM, INT, HUP, QUIT, PIPE..." },
	{ "max_sessions", "P11LOGOUT_MAX_SESSIONS", parse_places,
	  offsetof(struct p11l_config, max_sessions),
	  "a number from 0 to " P11L_DECIMAL(P11L_MAX_PLACES) },
};

static void set_defaults(struct p11l_config *c)
{
	c->debug = 0;
	c->timeout = P11L_DEFAULT_TIMEOUT;
	c->wait = 0;
	c->mode = P11L_MODE_LOGOUT;
	c->log_syslog = 0;
	c->modules = NULL;
	c->module = NULL;
	c->signals = 0;
	c->max_sessions = 0;
}

/* One setting, from a variable (WHERE is NULL) or from file:line; an
 * unusable value keeps what was there and says so once.  (Each parser
 * writes only a value it accepts: no copy of the settings to restore,
 * which would be a memcpy call at -O0, one more symbol version.) */
static void apply(const struct setting *s, const char *v, const char *where)
{
	if (s->parse(v, &config, s->offset))
		return;
	if (where)
		p11l_warn("%s: %s = '%.40s' is not %s; line skipped", where,
			  s->key, v, s->expected);
	else
		p11l_warn("%s='%.40s' is not %s; ignored", s->variable, v, s->expected);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static void parse_file(char *text, const char *path)
{
	unsigned lineno = 0;

	for (char *line = text, *next; line; line = next) {
		char where[300], *eq, *key, *value;
		size_t i;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		line = trim(line);
		if (!*line || *line == '#')
			continue;
		p11l_libc.snprintf(where, sizeof where, "%s:%u", path, lineno);
		eq = strchr(line, '=');
		if (!eq) {
			p11l_warn("%s: not 'key = value'; line skipped", where);
			continue;
		}
		*eq = '\0';
		key = trim(line);
		value = trim(eq + 1);
		for (i = 0; i < sizeof settings / sizeof settings[0]; i++)
			if (strcmp(key, settings[i].key) == 0)
				break;
		if (i == sizeof settings / sizeof settings[0]) {
			p11l_warn("%s: unknown setting '%.40s'; line skipped", where, key);
			continue;
		}
		apply(&settings[i], value, where);
	}
}

static void read_file(const char *path, int secure, int named)
{
	struct stat st;
	char *text;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		/* The default file is optional; one that was named is not. */
		if (named || errno != ENOENT)
			p11l_warn("%s: cannot read: %s; using the defaults", path, p11l_libc.strerror(errno));
		return;
	}
	if (p11l_libc.fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		p11l_warn("%s: not a regular file; ignored", path);
		close(fd);
		return;
	}
	if (secure && (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))) {
		p11l_warn("%s: not owned by root or writable by others; ignored in a setuid program",
			  path);
		close(fd);
		return;
	}
	text = malloc(CONFIG_FILE_MAX + 1);
	if (!text) {
		close(fd);
		return;
	}
	size_t len = 0;
	while (len < CONFIG_FILE_MAX &&
	       (n = read(fd, text + len, CONFIG_FILE_MAX - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	text[len] = '\0';
	parse_file(text, path);
	free(text);
}

static void load(void)
{
	const char *path;
	int secure;

	set_defaults(&config);
	/* What reads the settings is looked up at the first module
	 * (libc-late.h); without it, the defaults, and every module passes
	 * through. */
	if (p11l_libc_missing())
		return;
	path = env("P11LOGOUT_CONFIG");
	secure = p11l_libc.getauxval(AT_SECURE) != 0;
	read_file(path ? path : P11L_SYSCONFDIR "/libp11logout.conf", secure, path != NULL);
	for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
		const char *v = env(settings[i].variable);

		if (v)
			apply(&settings[i], v, NULL);
	}
	p11l_log_setup(config.debug, config.log_syslog);
}

/* The debug banner: the version and every effective setting, in the form
 * `p11-run --show-config` prints. */
void p11l_config_banner(void)
{
	char sigs[64];

	signals_text(config.signals, sigs, sizeof sigs);
	p11l_log("libp11logout %s: debug=%d timeout=%u wait=%u mode=%s log=%s modules=%s module=%s signals=%s max_sessions=%u",
		 PACKAGE_VERSION, config.debug, config.timeout, config.wait,
		 mode_names[config.mode], config.log_syslog ? "syslog" : "stderr",
		 config.modules ? config.modules : "*",
		 config.module ? config.module : "-", sigs, config.max_sessions);
}

const struct p11l_config *p11l_config_loaded;

const struct p11l_config *p11l_config_load(void)
{
	pthread_once(&config_once, load);
	__atomic_store_n(&p11l_config_loaded, &config, __ATOMIC_RELEASE);
	return &config;
}
