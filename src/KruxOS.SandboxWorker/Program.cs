using KruxOS.SandboxWorker;

// The sandboxed worker: one per agent, started by the gateway inside bubblewrap.
// Arguments: --agent NAME --root /workspace=REAL [--mount /mnt/label=REAL[:ro]]... --trash REAL [--git-relay SOCKET] [--landlock]
return await WorkerHost.RunAsync(args, Console.OpenStandardInput(), Console.OpenStandardOutput()).ConfigureAwait(false);
