using KruxOS.Gateway.Hosting;

var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args });
builder.Configuration.AddKruxOsConfiguration(args);
builder.AddKruxOsGateway();

var app = builder.Build();
app.MapKruxOs();
await app.RunAsync();

/// <summary>Entry point, visible to tests that host the gateway in-process.</summary>
public partial class Program;
