using System.Net;
using KruxOS.Core.Network;
using Xunit;

namespace KruxOS.Core.Tests.Network;

/// <summary>Every special-purpose range the egress check refuses by default, in each spelling that reaches it (ADR 0034).</summary>
public sealed class AddressClassifierSpecs
{
    [Theory]
    // unspecified and "this network"
    [InlineData("0.0.0.0", AddressClass.Unspecified, "0.0.0.0/8")]
    [InlineData("0.1.2.3", AddressClass.Unspecified, "0.0.0.0/8")]
    [InlineData("::", AddressClass.Unspecified, "::/128")]
    [InlineData("::ffff:0.0.0.0", AddressClass.Unspecified, "0.0.0.0/8")]
    // loopback
    [InlineData("127.0.0.1", AddressClass.Loopback, "127.0.0.0/8")]
    [InlineData("127.255.255.254", AddressClass.Loopback, "127.0.0.0/8")]
    [InlineData("::1", AddressClass.Loopback, "::1/128")]
    [InlineData("::ffff:127.0.0.1", AddressClass.Loopback, "127.0.0.0/8")]
    [InlineData("::ffff:7f00:1", AddressClass.Loopback, "127.0.0.0/8")]
    // RFC 1918 and unique local
    [InlineData("10.0.0.1", AddressClass.Private, "10.0.0.0/8")]
    [InlineData("172.16.0.1", AddressClass.Private, "172.16.0.0/12")]
    [InlineData("172.31.255.255", AddressClass.Private, "172.16.0.0/12")]
    [InlineData("192.168.1.1", AddressClass.Private, "192.168.0.0/16")]
    [InlineData("::ffff:10.1.2.3", AddressClass.Private, "10.0.0.0/8")]
    [InlineData("::ffff:192.168.0.1", AddressClass.Private, "192.168.0.0/16")]
    [InlineData("fc00::1", AddressClass.Private, "fc00::/7")]
    [InlineData("fd12:3456::1", AddressClass.Private, "fc00::/7")]
    [InlineData("fec0::1", AddressClass.Private, "fec0::/10")]
    // link-local
    [InlineData("169.254.1.1", AddressClass.LinkLocal, "169.254.0.0/16")]
    [InlineData("fe80::1", AddressClass.LinkLocal, "fe80::/10")]
    [InlineData("febf::1", AddressClass.LinkLocal, "fe80::/10")]
    [InlineData("::ffff:169.254.1.1", AddressClass.LinkLocal, "169.254.0.0/16")]
    // CGNAT
    [InlineData("100.64.0.1", AddressClass.SharedCgnat, "100.64.0.0/10")]
    [InlineData("100.127.255.255", AddressClass.SharedCgnat, "100.64.0.0/10")]
    [InlineData("::ffff:100.64.0.1", AddressClass.SharedCgnat, "100.64.0.0/10")]
    // cloud metadata, before link-local / CGNAT / public
    [InlineData("169.254.169.254", AddressClass.CloudMetadata, "169.254.169.254/32")]
    [InlineData("::ffff:169.254.169.254", AddressClass.CloudMetadata, "169.254.169.254/32")]
    [InlineData("::ffff:a9fe:a9fe", AddressClass.CloudMetadata, "169.254.169.254/32")]
    [InlineData("169.254.170.2", AddressClass.CloudMetadata, "169.254.170.2/32")]
    [InlineData("100.100.100.200", AddressClass.CloudMetadata, "100.100.100.200/32")]
    [InlineData("168.63.129.16", AddressClass.CloudMetadata, "168.63.129.16/32")]
    [InlineData("fd00:ec2::254", AddressClass.CloudMetadata, "fd00:ec2::254/128")]
    // multicast and broadcast
    [InlineData("224.0.0.1", AddressClass.Multicast, "224.0.0.0/4")]
    [InlineData("239.255.255.250", AddressClass.Multicast, "224.0.0.0/4")]
    [InlineData("ff02::1", AddressClass.Multicast, "ff00::/8")]
    [InlineData("::ffff:224.0.0.1", AddressClass.Multicast, "224.0.0.0/4")]
    [InlineData("255.255.255.255", AddressClass.Broadcast, "255.255.255.255/32")]
    [InlineData("::ffff:255.255.255.255", AddressClass.Broadcast, "255.255.255.255/32")]
    // reserved, documentation, benchmarking, transition forms
    [InlineData("240.0.0.1", AddressClass.Reserved, "240.0.0.0/4")]
    [InlineData("192.0.2.1", AddressClass.Reserved, "192.0.2.0/24")]
    [InlineData("198.51.100.7", AddressClass.Reserved, "198.51.100.0/24")]
    [InlineData("203.0.113.9", AddressClass.Reserved, "203.0.113.0/24")]
    [InlineData("198.18.0.1", AddressClass.Reserved, "198.18.0.0/15")]
    [InlineData("192.0.0.8", AddressClass.Reserved, "192.0.0.0/24")]
    [InlineData("::127.0.0.1", AddressClass.Reserved, "::/96")]
    [InlineData("2001:db8::1", AddressClass.Reserved, "2001:db8::/32")]
    [InlineData("2001:0:4136:e378:8000:63bf:3fff:fdd2", AddressClass.Reserved, "2001::/23")]
    [InlineData("100::1", AddressClass.Reserved, "100::/64")]
    [InlineData("64:ff9b:1::a00:1", AddressClass.Reserved, "64:ff9b:1::/48")]
    [InlineData("4000::1", AddressClass.Reserved, "::/0")]
    // NAT64 and 6to4 carry an IPv4 address: they are what it is, within a block as narrow as its IPv4 block
    [InlineData("64:ff9b::7f00:1", AddressClass.Loopback, "64:ff9b::7f00:0/104")]
    [InlineData("64:ff9b::a00:1", AddressClass.Private, "64:ff9b::a00:0/104")]
    [InlineData("64:ff9b::a9fe:a9fe", AddressClass.CloudMetadata, "64:ff9b::a9fe:a9fe/128")]
    [InlineData("2002:7f00:1::1", AddressClass.Loopback, "2002:7f00::/24")]
    [InlineData("2002:c0a8:101::1", AddressClass.Private, "2002:c0a8::/32")]
    // public
    [InlineData("93.184.216.34", AddressClass.Public, "0.0.0.0/0")]
    [InlineData("8.8.8.8", AddressClass.Public, "0.0.0.0/0")]
    [InlineData("100.63.255.255", AddressClass.Public, "0.0.0.0/0")]
    [InlineData("100.128.0.0", AddressClass.Public, "0.0.0.0/0")]
    [InlineData("172.15.255.255", AddressClass.Public, "0.0.0.0/0")]
    [InlineData("172.32.0.0", AddressClass.Public, "0.0.0.0/0")]
    [InlineData("::ffff:8.8.8.8", AddressClass.Public, "0.0.0.0/0")]
    [InlineData("2606:4700:4700::1111", AddressClass.Public, "::/0")]
    [InlineData("64:ff9b::808:808", AddressClass.Public, "::/0")]
    [InlineData("2002:808:808::1", AddressClass.Public, "::/0")]
    public void Should_classify_each_special_range_and_its_other_spellings(string address, AddressClass expected, string block)
    {
        var c = AddressClassifier.Classify(IPAddress.Parse(address));
        Assert.Equal(expected, c.Class);
        Assert.Equal(IPNetwork.Parse(block), c.Block);
    }

    [Fact]
    public void Should_classify_mapped_addresses_as_the_ipv4_address_they_carry()
    {
        var c = AddressClassifier.Classify(IPAddress.Parse("::ffff:10.0.0.7"));
        Assert.Equal(System.Net.Sockets.AddressFamily.InterNetwork, c.Address.AddressFamily);
        Assert.Equal(IPAddress.Parse("10.0.0.7"), c.Address);
    }

    [Fact]
    public void Should_ignore_a_scope_id_when_classifying()
    {
        var scoped = IPAddress.Parse("fe80::1%2");
        Assert.Equal(AddressClass.LinkLocal, AddressClassifier.Classify(scoped).Class);
    }
}
