using KruxOS.Gateway.Hosting;

// Whatever the gateway or a library creates is private unless the code says otherwise (sandbox launches reset it).
DataDirectory.UsePrivateUmask();
await GatewayApp.Build(args).RunAsync();
