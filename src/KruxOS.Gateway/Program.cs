using KruxOS.Gateway.Hosting;

// Whatever the gateway or a library creates is private unless the code says otherwise (sandbox launches reset it).
DataDirectory.UsePrivateUmask();
try
{
    await GatewayApp.Build(args).RunAsync();
    return 0;
}
catch (Exception e) when (e is not OutOfMemoryException)
{
    // A setting that cannot work, a cluster it cannot join, a port in use: one line, an exit code, no unhandled exception.
    return StartupFailure.Report(e, Console.Error);
}
