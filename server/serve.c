/*
 * serve.c — `tempscale serve`: load the model once, open --parallel
 * contexts, and answer HTTP (server/http.c) until SIGINT or SIGTERM.
 *
 * The rule about addresses: the default is loopback (127.0.0.1). Any address
 * that is not loopback (0.0.0.0, a LAN address, a name resolving to one)
 * needs an API key (--api-key or TEMPSCALE_API_KEY), or the command refuses
 * to start: a server reachable from the network would otherwise lend the
 * machine's CPU to anyone.
 *
 * SIGINT and SIGTERM run a handler that only writes a byte to a pipe (on
 * whatever thread the kernel picks: libraries start threads before main);
 * the main thread waits on the pipe, so the stop is ordinary code:
 * ts_server_stop ends the streams cleanly, then the session is freed and the
 * exit status is 0. A second signal during the stop changes nothing (the
 * stop takes at most a token per run plus the drain of the responses).
 */
#include "cli.h"
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: tempscale serve [--model M] [--host 127.0.0.1] [--port 8080] [--parallel N]\n"
        "                       [--api-key KEY] [options]\n"
        "\n"
        "Serve the temperature explorer (a page at /) and an OpenAI-compatible API on one\n"
        "loaded model. Official OpenAI clients work unchanged with base_url=http://HOST:PORT/v1\n"
        "(GET /v1/models, POST /v1/completions, streaming included); the native routes\n"
        "POST /api/{tokenize,top,sample,sweep,generate,compare,softmax} take the same fields\n"
        "and return the same JSON as the commands' --json. docs/server.md has the details.\n"
        "\n"
        "Options:\n"
        "  --model M             checkpoint directory or repo id (default: the bundled model)\n"
        "  --host H              address to listen on (default 127.0.0.1); any address that is\n"
        "                        not loopback needs an API key\n"
        "  --port P              port (default 8080; 0 = any free port, printed)\n"
        "  --parallel N          requests computed at once, each on its own context\n"
        "                        (default: the number of cores)\n"
        "  --api-key KEY         require 'Authorization: Bearer KEY' on /v1 and /api\n"
        "                        (or set TEMPSCALE_API_KEY, which keeps it out of `ps`)\n"
        "  --max-queue N         requests that may wait for a context; more get 503 +\n"
        "                        Retry-After (default 64)\n"
        "  --queue-timeout S     seconds a request waits for a context before 503 (default 30)\n"
        "  --timeout S           a client that sends its request, or reads the answer, slower\n"
        "                        than this is disconnected (default 30)\n"
        "  --max-connections N   open connections at once (default 256)\n"
        "  --threads N           threads per context (default: cores / parallel)\n"
        "  --verbose             one log line per request on stderr\n"
        "  -h, --help            this help\n"
        "\n"
        "Examples:\n"
        "  tempscale serve                      # then open http://127.0.0.1:8080/\n"
        "  TEMPSCALE_API_KEY=secret tempscale serve --host 0.0.0.0 --model distilgpt2\n"
        "  curl -s localhost:8080/v1/completions -d '{\"prompt\":\"ROMEO:\",\"max_tokens\":8}'\n");
}

/* Does host resolve to loopback addresses only? false (with *why) when it cannot be resolved. */
static bool host_is_loopback(const char *host, const char **why)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(host, "0", &hints, &res);
    if (rc != 0) {
        *why = gai_strerror(rc);
        return false;
    }
    bool all = res != NULL;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        if (a->ai_family == AF_INET) {
            const struct sockaddr_in *s4 = (const struct sockaddr_in *)a->ai_addr;
            all &= (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
        } else if (a->ai_family == AF_INET6) {
            const struct in6_addr *s6 = &((const struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
            bool mapped127 = IN6_IS_ADDR_V4MAPPED(s6) && s6->s6_addr[12] == 127;
            all &= IN6_IS_ADDR_LOOPBACK(s6) || mapped127;
        } else {
            all = false;
        }
    }
    freeaddrinfo(res);
    *why = NULL;
    return all;
}

static bool is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int stop_pipe[2] = {-1, -1};
static volatile sig_atomic_t stop_signal = 0;

static void on_stop_signal(int sig)
{
    int saved = errno;
    if (!stop_signal) stop_signal = sig;
    char c = 1;
    ssize_t w = write(stop_pipe[1], &c, 1);
    (void)w;
    errno = saved;
}

static bool parse_int(const char *opt, const char *s, long lo, long hi, long *out)
{
    return ts_cli_parse_long(opt, s, lo, hi, out);
}

int ts_cmd_serve(int argc, char **argv)
{
    enum {
        O_MODEL = 1000,
        O_HOST,
        O_PORT,
        O_PARALLEL,
        O_KEY,
        O_QUEUE,
        O_QTIMEOUT,
        O_TIMEOUT,
        O_MAXCONN,
        O_THREADS,
        O_VERBOSE,
    };
    static const struct option opts[] = {
        {"model", required_argument, NULL, O_MODEL},
        {"host", required_argument, NULL, O_HOST},
        {"port", required_argument, NULL, O_PORT},
        {"parallel", required_argument, NULL, O_PARALLEL},
        {"api-key", required_argument, NULL, O_KEY},
        {"max-queue", required_argument, NULL, O_QUEUE},
        {"queue-timeout", required_argument, NULL, O_QTIMEOUT},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"max-connections", required_argument, NULL, O_MAXCONN},
        {"threads", required_argument, NULL, O_THREADS},
        {"verbose", no_argument, NULL, O_VERBOSE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model = NULL, *key = NULL;
    ts_server_config cfg = ts_server_default_config();
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long parallel = cores > 0 ? cores : 1, max_queue = 64, qtimeout = 30, threads = 0, v;
    if (parallel > 64) parallel = 64;
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return TS_EXIT_OK;
        case O_MODEL:
            model = optarg;
            break;
        case O_HOST:
            cfg.host = optarg;
            break;
        case O_PORT:
            if (!parse_int("port", optarg, 0, 65535, &v)) return TS_EXIT_USAGE;
            cfg.port = (int)v;
            break;
        case O_PARALLEL:
            if (!parse_int("parallel", optarg, 1, 256, &parallel)) return TS_EXIT_USAGE;
            break;
        case O_KEY:
            key = optarg;
            break;
        case O_QUEUE:
            if (!parse_int("max-queue", optarg, 0, 100000, &max_queue)) return TS_EXIT_USAGE;
            break;
        case O_QTIMEOUT:
            if (!parse_int("queue-timeout", optarg, 0, 86400, &qtimeout)) return TS_EXIT_USAGE;
            break;
        case O_TIMEOUT:
            if (!parse_int("timeout", optarg, 1, 86400, &v)) return TS_EXIT_USAGE;
            cfg.timeout_s = (int)v;
            break;
        case O_MAXCONN:
            if (!parse_int("max-connections", optarg, 1, 100000, &v)) return TS_EXIT_USAGE;
            cfg.max_connections = (int)v;
            break;
        case O_THREADS:
            if (!parse_int("threads", optarg, 1, 1024, &threads)) return TS_EXIT_USAGE;
            break;
        case O_VERBOSE:
            cfg.verbose = true;
            break;
        default:
            return ts_cli_bad_option("serve", argv);
        }
    }
    if (optind < argc)
        return ts_cli_error("serve: unexpected argument '%s' (see 'tempscale help serve')",
                            argv[optind]);
    if (!key || !*key) key = getenv("TEMPSCALE_API_KEY");
    if (key && !*key) key = NULL;
    const char *why = NULL;
    bool loopback = host_is_loopback(cfg.host, &why);
    if (why) return ts_cli_error("option --host: cannot resolve '%s': %s", cfg.host, why);
    if (!loopback && !key)
        return ts_cli_error("serve: --host %s is not a loopback address: set --api-key KEY or "
                            "TEMPSCALE_API_KEY (anyone who can reach the port could use the "
                            "server otherwise)",
                            cfg.host);
    cfg.api_key = key;
    cfg.queue_timeout_ms = (int)(qtimeout * 1000);

    char dir[4096];
    if (!ts_cli_resolve_model(model, dir, sizeof dir)) return TS_EXIT_USAGE;
    /* The model's id in /v1/models: the repo id it was asked by, else the directory's name. */
    char name[256] = "";
    if (model && !is_dir(model))
        snprintf(name, sizeof name, "%.*s", (int)strcspn(model, "@"), model);

    signal(SIGPIPE, SIG_IGN);

    ts_session_params sp = ts_session_default_params();
    sp.model_dir = dir;
    sp.model_name = name[0] ? name : NULL;
    sp.n_slots = (int32_t)parallel;
    sp.n_threads = (int32_t)threads;
    sp.max_queue = (int32_t)max_queue;
    ts_session *session = NULL;
    char err[TS_ERR_SIZE] = "";
    ts_status st = ts_session_open(&sp, &session, err, sizeof err);
    if (st != TS_OK) {
        ts_cli_error("%s", err);
        return ts_cli_exit_code(st);
    }
    ts_server *srv = NULL;
    st = ts_server_start(session, &cfg, &srv, err, sizeof err);
    if (st != TS_OK) {
        ts_session_free(session);
        ts_cli_error("serve: %s", err);
        return TS_EXIT_FAIL;
    }
    /* From here a signal means "stop cleanly" (before, it ends the process as usual). */
    if (pipe(stop_pipe) != 0) {
        ts_server_stop(srv);
        ts_session_free(session);
        ts_cli_error("serve: pipe: %s", strerror(errno));
        return TS_EXIT_FAIL;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    bool v6 = strchr(cfg.host, ':') != NULL;
    char base[512];
    snprintf(base, sizeof base, "http://%s%s%s:%d", v6 ? "[" : "", cfg.host, v6 ? "]" : "",
             ts_server_port(srv));
    printf("tempscale serve: %s on %d context%s%s\n", ts_session_model_name(session), (int)parallel,
           parallel == 1 ? "" : "s", key ? ", API key required" : "");
    printf("  explorer    %s/\n", base);
    printf("  OpenAI API  %s/v1   (base_url for the official clients)\n", base);
    printf("  native API  %s/api/{tokenize,top,sample,sweep,generate,compare,softmax}\n", base);
    if (!loopback) printf("  listening on every address %s names; the key is required\n", cfg.host);
    printf("Ctrl-C stops.\n");
    fflush(stdout);

    char byte;
    while (read(stop_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    int sig = stop_signal;
    ts_server_stats s;
    ts_server_get_stats(srv, &s);
    fprintf(stderr, "tempscale serve: %s: stopping (%d request%s running)\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", s.running, s.running == 1 ? "" : "s");
    ts_server_stop(srv);
    ts_session_free(session);
    fprintf(stderr, "tempscale serve: stopped\n");
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    return TS_EXIT_OK;
}
