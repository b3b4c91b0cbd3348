using KruxOS.Gateway.Hosting;

await GatewayApp.Build(args).RunAsync();
