using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using KruxOS.Actors.Admin;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Capabilities.Sandboxed;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Policy;
using KruxOS.Core.Admin;
using KruxOS.Core.Approvals;
using KruxOS.Core.Control;
using KruxOS.Core.Identity;
using KruxOS.Gateway.Control;
using KruxOS.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Admin;

/// <summary>
/// The admin services every adapter (control socket, User API, dashboard) stands on: each refusal is typed with the
/// <see cref="AdminErrorKind"/> adapters switch on and the <see cref="AdminError.Code"/> the control socket has always
/// shown, and separation of duties on approvals holds in the service, so no adapter can skip it.
/// </summary>
public sealed class AdminServiceSpecs
{
    private const string Holder = "holder";

    private static Task<TestGateway> StartAsync() =>
        TestGateway.StartAsync(TestPolicies.DataDirWithAgentPolicy("kruxos-admin-svc-", Holder));

    private static void AssertError<T>(AdminResult<T> result, AdminErrorKind kind, string code)
    {
        Assert.False(result.IsOk, $"expected {kind}/{code}, got a success");
        Assert.Equal((kind, code), (result.Error!.Kind, result.Error.Code));
    }

    [Fact]
    public async Task Should_type_every_refusal_with_its_kind_and_its_control_socket_code()
    {
        // arrange
        await using var gw = await StartAsync();
        var ct = TestContext.Current.CancellationToken;
        var agents = gw.Services.GetRequiredService<AgentAdmin>();
        var tokens = gw.Services.GetRequiredService<UserTokenAdmin>();
        var approvals = gw.Services.GetRequiredService<ApprovalAdmin>();
        var policy = gw.Services.GetRequiredService<PolicyAdmin>();
        var mounts = gw.Services.GetRequiredService<MountAdmin>();
        Assert.True((await agents.CreateAsync("alpha", "spec", ct)).IsOk);
        Assert.True((await agents.CreateAsync("gone", "spec", ct)).IsOk);
        Assert.True((await agents.RevokeAsync("gone", ct)).IsOk);

        // act + assert
        AssertError(await agents.CreateAsync("Not A Name", "", ct), AdminErrorKind.InvalidInput, "invalid_input");
        AssertError(await agents.CreateAsync("alpha", "", ct), AdminErrorKind.Conflict, "AlreadyExists");
        AssertError(await agents.RevokeAsync("gone", ct), AdminErrorKind.Conflict, "InvalidState");
        AssertError(await agents.RestoreAsync("alpha", ct), AdminErrorKind.Conflict, "InvalidState");
        AssertError(await agents.RotateAsync("nobody", ct), AdminErrorKind.NotFound, "NotFound");
        AssertError(agents.Show("nobody"), AdminErrorKind.NotFound, "NotFound");
        AssertError(await agents.KillAsync("nobody", ct), AdminErrorKind.NotFound, "NotFound");
        AssertError(await agents.KillAsync(null, ct), AdminErrorKind.InvalidInput, "invalid_input");
        AssertError(await tokens.CreateAsync("", CredentialRole.Client, ct), AdminErrorKind.InvalidInput, "InvalidInput");
        AssertError(await tokens.RevokeAsync("no-such-token", ct), AdminErrorKind.NotFound, "NotFound");
        AssertError(await approvals.ListAsync("sideways", ct), AdminErrorKind.InvalidInput, "invalid_input");
        AssertError(await approvals.ShowAsync("nope", ct), AdminErrorKind.NotFound, "NotFound");
        AssertError(await approvals.DecideAsync("appr-0000000000000000", true, ApprovalDecider.ControlSocket(0), "", ct), AdminErrorKind.NotFound, "NotFound");
        AssertError(policy.Check("Bad Agent", "system.time", null), AdminErrorKind.InvalidInput, "invalid_input");
        AssertError(policy.Check("alpha", "system.nope", null), AdminErrorKind.NotFound, "NotFound");
        AssertError(policy.Check("alpha", "system.time", JsonDocument.Parse("[1]").RootElement), AdminErrorKind.InvalidInput, "invalid_input");
        AssertError(policy.Check("alpha", "filesystem.read", null), AdminErrorKind.InvalidInput, "invalid_input");
        AssertError(await policy.SetTemplateAsync("nonsense", ct), AdminErrorKind.InvalidInput, "invalid_input");
        AssertError(mounts.Add("Bad Agent", "/nonexistent", "x", false, null), AdminErrorKind.InvalidInput, "invalid_input");
        AssertError(mounts.Remove("alpha", "nope"), AdminErrorKind.NotFound, "NotFound");
        Assert.Equal(AdminErrorKind.Unavailable, AdminErrors.Unavailable("loading").Kind);
        Assert.Equal("ServiceUnavailable", AdminErrors.Unavailable("loading").Code);
    }

    [Fact]
    public async Task Should_answer_an_unanswered_ask_as_a_timeout_that_changed_nothing()
    {
        // act
        var result = await AdminCalls.Guarded<int>(() => throw new AskTimeoutException("no answer"));

        // assert
        AssertError(result, AdminErrorKind.Timeout, "timeout");
        Assert.Equal(AdminErrors.TimeoutMessage, result.Error!.Message);
    }

    [Fact]
    public async Task Should_refuse_a_client_credential_in_the_service_and_through_both_adapters()
    {
        // arrange: a call of the agent held for approval, a client token and an operator token
        await using var gw = await StartAsync();
        var ct = TestContext.Current.CancellationToken;
        var token = await gw.CreateAgentAsync(Holder);
        var id = await HeldRpcCall.StartAsync(gw, token, "UTC");
        var client = await gw.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = "bystander" });
        var directory = gw.Services.GetRequiredService<IdentityDirectory>();
        var clientDecider = ApprovalDecider.UserApi(directory.Current.UserTokens[client["id"]!.GetValue<string>()], minted: false);
        var approvals = gw.Services.GetRequiredService<ApprovalAdmin>();

        // act: the service itself, the control-socket adapter handed that decider, and the User API with that token
        var service = await approvals.DecideAsync(id, true, clientDecider, "", ct);
        var line = ControlResponse.Parse(await gw.Services.GetRequiredService<ControlCommands>()
            .ExecuteAsync(null, ControlProtocol.Methods.ApprovalApprove, new JsonObject { ["id"] = id }, clientDecider, ct));
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{gw.UserApiPort}/api/approvals/{id}/approve");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", client["token"]!.GetValue<string>());
        using var response = await http.SendAsync(request, ct);

        // assert: refused three times, still pending; the operator (control socket) then decides it
        AssertError(service, AdminErrorKind.Forbidden, "Forbidden");
        Assert.True(service.Error!.ReportsStatus);
        Assert.Equal("Forbidden", line.ErrorType);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("pending", (await approvals.ShowAsync(id, ct)).Value!.State.Status.ToWire());
        var decided = await approvals.DecideAsync(id, true, ApprovalDecider.ControlSocket(0), "ok", ct);
        Assert.True(decided.IsOk, decided.Error?.Message);
        Assert.Equal("cli:root", decided.Value!.State.Decision!.DecidedBy);
        var again = await approvals.DecideAsync(id, false, ApprovalDecider.ControlSocket(0), "", ct);
        AssertError(again, AdminErrorKind.Conflict, "Conflict");
        Assert.Equal("approved", again.Error!.Status);
    }
}
