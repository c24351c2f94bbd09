/* The configuration parser's table of good and bad lines: each line alone
 * in a file, in a process of its own (the settings are read once per
 * process), and the settings it leaves, with the warnings it gives.  A
 * good line sets its value and says nothing; a bad one gives exactly one
 * warning, naming file:line, and leaves the default.  Then the variables:
 * the same values through P11LOGOUT_*, which win over the file. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p11logout.h"
#include "unit-test.h"

#define FILE_NAME "unit-config.conf"

/* The settings as one line, to compare whole. */
static void render(const struct p11l_config *c, char *out, size_t size)
{
	snprintf(out, size, "debug=%d timeout=%u wait=%u mode=%d log=%d modules=%s module=%s signals=%#lx",
		 c->debug, c->timeout, c->wait, (int)c->mode, c->log_syslog,
		 c->modules ? c->modules : "-", c->module ? c->module : "-", c->signals);
}

#define DEFAULTS "debug=0 timeout=5 wait=0 mode=0 log=0 modules=- module=- signals=0"

static const struct {
	const char *text;	/* the file */
	const char *env;	/* NAME=VALUE, or NULL */
	const char *want;	/* the settings */
	int warnings;
} cases[] = {
	{ "", NULL, DEFAULTS, 0 },
	{ "# a comment\n\n   \t\n", NULL, DEFAULTS, 0 },
	{ "debug = 1\n", NULL, "debug=1 timeout=5 wait=0 mode=0 log=0 modules=- module=- signals=0", 0 },
	{ "debug=yes", NULL, "debug=1 timeout=5 wait=0 mode=0 log=0 modules=- module=- signals=0", 0 },
	{ "  debug\t=\tON  \r\n", NULL, "debug=1 timeout=5 wait=0 mode=0 log=0 modules=- module=- signals=0", 0 },
	{ "debug = 2\n", NULL, DEFAULTS, 1 },
	{ "timeout = 0\n", NULL, "debug=0 timeout=0 wait=0 mode=0 log=0 modules=- module=- signals=0", 0 },
	{ "timeout = 3600\n", NULL, "debug=0 timeout=3600 wait=0 mode=0 log=0 modules=- module=- signals=0", 0 },
	{ "timeout = 3601\n", NULL, DEFAULTS, 1 },
	{ "timeout = -1\n", NULL, DEFAULTS, 1 },
	{ "timeout = 1.5\n", NULL, DEFAULTS, 1 },
	{ "timeout = 99999999999999999999999\n", NULL, DEFAULTS, 1 },
	{ "timeout =\n", NULL, DEFAULTS, 1 },
	{ "wait = 30\n", NULL, "debug=0 timeout=5 wait=30 mode=0 log=0 modules=- module=- signals=0", 0 },
	{ "mode = close\n", NULL, "debug=0 timeout=5 wait=0 mode=1 log=0 modules=- module=- signals=0", 0 },
	{ "mode = finalize\n", NULL, "debug=0 timeout=5 wait=0 mode=2 log=0 modules=- module=- signals=0", 0 },
	{ "mode = Close\n", NULL, DEFAULTS, 1 },
	{ "log = syslog\n", NULL, "debug=0 timeout=5 wait=0 mode=0 log=1 modules=- module=- signals=0", 0 },
	{ "log = file\n", NULL, DEFAULTS, 1 },
	{ "modules = *yubihsm*:*softhsm*\n", NULL, "debug=0 timeout=5 wait=0 mode=0 log=0 modules=*yubihsm*:*softhsm* module=- signals=0", 0 },
	{ "modules =\n", NULL, DEFAULTS, 1 },
	{ "module = /usr/lib/x.so\n", NULL, "debug=0 timeout=5 wait=0 mode=0 log=0 modules=- module=/usr/lib/x.so signals=0", 0 },
	{ "signals = TERM, SIGINT\n", NULL, "debug=0 timeout=5 wait=0 mode=0 log=0 modules=- module=- signals=0x8004", 0 },
	{ "signals =\n", NULL, DEFAULTS, 0 },
	{ "signals = KILL\n", NULL, DEFAULTS, 1 },
	{ "no equals sign\n", NULL, DEFAULTS, 1 },
	{ "colour = blue\n", NULL, DEFAULTS, 1 },
	{ "= 1\n", NULL, DEFAULTS, 1 },
	{ "debug = 1\ntimeout = x\nmode = close\n", NULL, "debug=1 timeout=5 wait=0 mode=1 log=0 modules=- module=- signals=0", 1 },
	{ "timeout = 1\ntimeout = 2\n", NULL, "debug=0 timeout=2 wait=0 mode=0 log=0 modules=- module=- signals=0", 0 },
	/* The variables win over the file; a bad one keeps the file's. */
	{ "timeout = 7\n", "P11LOGOUT_TIMEOUT=9", "debug=0 timeout=9 wait=0 mode=0 log=0 modules=- module=- signals=0", 0 },
	{ "timeout = 7\n", "P11LOGOUT_TIMEOUT=nine", "debug=0 timeout=7 wait=0 mode=0 log=0 modules=- module=- signals=0", 1 },
	{ "", "P11LOGOUT_MODE=finalize", "debug=0 timeout=5 wait=0 mode=2 log=0 modules=- module=- signals=0", 0 },
	{ "", "P11LOGOUT_SIGNALS=HUP,USR1", "debug=0 timeout=5 wait=0 mode=0 log=0 modules=- module=- signals=0x402", 0 },
	{ "", "P11LOGOUT_DEBUG=", "debug=0 timeout=5 wait=0 mode=0 log=0 modules=- module=- signals=0", 0 },
};

/* Case I in a child: its settings on OUT, its stderr on ERR. */
static void child(size_t i, int out, int err)
{
	char line[512];
	FILE *f = fopen(FILE_NAME, "w");

	if (!f || fputs(cases[i].text, f) == EOF || fclose(f) != 0)
		_exit(2);
	setenv("P11LOGOUT_CONFIG", FILE_NAME, 1);
	if (cases[i].env)
		putenv((char *)cases[i].env);
	dup2(err, 2);
	render(p11l_config(), line, sizeof line);
	if (write(out, line, strlen(line)) < 0)
		_exit(2);
	_exit(0);
}

static size_t read_all(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return len;
}

int main(void)
{
	for (const char *const *v = (const char *const[]){ "P11LOGOUT_DEBUG", "P11LOGOUT_TIMEOUT",
		"P11LOGOUT_WAIT", "P11LOGOUT_MODE", "P11LOGOUT_LOG", "P11LOGOUT_MODULES",
		"P11LOGOUT_MODULE", "P11LOGOUT_SIGNALS", NULL }; *v; v++)
		unsetenv(*v);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int out[2], err[2], status = -1, warnings = 0, named = 1;
		char got[512], errs[4096];

		if (pipe(out) != 0 || pipe(err) != 0) {
			printf("Bail out! pipe\n");
			return 1;
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(out[0]);
			close(err[0]);
			child(i, out[1], err[1]);
		}
		close(out[1]);
		close(err[1]);
		read_all(out[0], got, sizeof got);
		read_all(err[0], errs, sizeof errs);
		close(out[0]);
		close(err[0]);
		waitpid(pid, &status, 0);
		for (char *p = errs; (p = strstr(p, "libp11logout: ")); p++) {
			warnings++;
			/* A file line's warning names file:line. */
			if (!cases[i].env && !strstr(p, FILE_NAME ":"))
				named = 0;
		}
		const char *what = cases[i].env ? cases[i].env : cases[i].text;
		unit_check(WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
			   strcmp(got, cases[i].want) == 0,
			   "'%.*s': %s%s%s", (int)strcspn(what, "\n"), what, cases[i].want,
			   strcmp(got, cases[i].want) ? ", got " : "", strcmp(got, cases[i].want) ? got : "");
		unit_check(warnings == cases[i].warnings && named,
			   "'%.*s': %d warning(s)%s (got %d)", (int)strcspn(what, "\n"), what,
			   cases[i].warnings, cases[i].warnings && !cases[i].env ? ", naming file:line" : "",
			   warnings);
	}
	unlink(FILE_NAME);
	return unit_done();
}
