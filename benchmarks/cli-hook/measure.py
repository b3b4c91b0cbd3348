# Cold-run time of cli-hook (spawn -> answer) against a local gateway; see docs/cli-hook.md "Start-up".
# Publish first: dotnet publish <project> -c Release -p:UseAppHost=false -o $HOOKBENCH_DIR/{gateway,cli,cli-hook}
import json, os, socket, statistics, subprocess, sys, time, tempfile, signal
B = os.environ.get("HOOKBENCH_DIR", "/tmp/hookbench")  # holds the published gateway/, cli/ and cli-hook/
repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
def free():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
data = tempfile.mkdtemp(prefix="kruxos-hookbench-")
g, u, h = free(), free(), free()
sock = os.path.join(data, "run", "control.sock")
env = {k: v for k, v in os.environ.items() if not k.startswith("KRUXOS_")}
gw = subprocess.Popen(["dotnet", f"{B}/gateway/kruxos-gateway.dll", "--data-dir", data, "--gateway-port", str(g), "--user-api-port", str(u),
                       "--health-port", str(h), "--control-socket", sock, "--KruxOS:Sandbox:CgroupName", "kruxos-hookbench"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
try:
    import urllib.request
    for _ in range(300):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{h}/health/ready", timeout=1).status == 200 and os.path.exists(sock): break
        except Exception: pass
        time.sleep(0.2)
    cenv = dict(env, KRUXOS_CONTROL_SOCKET=sock)
    out = subprocess.run(["dotnet", f"{B}/cli/kruxos.dll", "user-token", "create", "bench", "--json"], capture_output=True, text=True, env=cenv)
    token = json.loads(out.stdout)["token"]
    henv = dict(env, KRUXOS_USER_TOKEN=token)
    fixtures = f"{repo}/tests/KruxOS.CliHook.Tests/Fixtures"
    def run(args, stdin):
        t = time.perf_counter()
        r = subprocess.run(["dotnet", f"{B}/cli-hook/cli-hook.dll", *args], input=stdin, capture_output=True, env=henv)
        return (time.perf_counter() - t) * 1000, r
    cases = [
        ("claude-code Read -> allow (filesystem.read, autonomous)", ["--cli", "claude-code", "--gateway", f"http://127.0.0.1:{u}"], open(f"{fixtures}/claude-code/read.json", "rb").read()),
        ("codex Bash 'git log -n 5' -> allow (git.log)", ["--cli", "codex", "--gateway", f"http://127.0.0.1:{u}"], open(f"{fixtures}/codex/bash-git-log.json", "rb").read()),
        ("claude-code Bash pipeline -> process.run (notify) allow", ["--cli", "claude-code", "--gateway", f"http://127.0.0.1:{u}"], open(f"{fixtures}/claude-code/bash-pipeline.json", "rb").read()),
        ("cli-hook --help (process start only)", ["--help"], b""),
    ]
    body = json.dumps({"client":"claude-code","native_tool":"Read","capability":"filesystem.read","arguments":{"path":"src/app.py"},"cwd":"/home/dev/proj"}).encode()
    ctimes = []
    for _ in range(15):
        t = time.perf_counter()
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer " + token, "-H", "Content-Type: application/json",
                            "--data-binary", "@-", f"http://127.0.0.1:{u}/api/hook/decide"], input=body, capture_output=True)
        ctimes.append((time.perf_counter() - t) * 1000)
        assert r.stdout == b"200", r.stdout
    print(f"curl POST /api/hook/decide (gateway decision + audit fsync, no .NET start): median {statistics.median(ctimes):.0f} ms, range {min(ctimes):.0f}-{max(ctimes):.0f} ms")
    run(cases[0][1], cases[0][2])  # warm the gateway's own JIT for the path once
    for name, args, stdin in cases:
        times = []
        for _ in range(15):
            ms, r = run(args, stdin)
            assert r.returncode == 0, r.stderr
            times.append(ms)
        print(f"{name}: median {statistics.median(times):.0f} ms, range {min(times):.0f}-{max(times):.0f} ms (15 runs); stdout: {r.stdout.decode()[:90]!r}")
    print("load average:", open("/proc/loadavg").read().strip())
finally:
    gw.send_signal(signal.SIGTERM)
    try: gw.wait(30)
    except subprocess.TimeoutExpired: gw.kill()
    subprocess.run(["rm", "-rf", data])
