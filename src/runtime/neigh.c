/* The host's neighbour entry of a container that just started. When a container is replaced by
 * one with the same address, connections that arrived in between leave the host's ARP entry for
 * that address INCOMPLETE; Docker 20.10 announces nothing when the new container starts, so the
 * queued packets wait for the kernel's next ARP retransmit (1 s by default) and the first
 * requests after a rollback stall for up to a second. Writing the entry ourselves (the address
 * and MAC are known from inspect) sends the queued packets at once. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rollgate/runtime.h"

static int
parse_mac(unsigned char mac[6], const char *s)
{
    unsigned v[6];
    char tail;

    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
               &tail) != 6)
        return -1;
    for (int i = 0; i < 6; i++)
        mac[i] = (unsigned char)v[i];
    return 0;
}

/* The interface whose IPv4 subnet holds addr: the bridge the container is attached to. */
static int
interface_for(unsigned *ifindex, struct in_addr addr, struct rg_err *err)
{
    struct ifaddrs *all = NULL;

    *ifindex = 0;
    if (getifaddrs(&all) < 0)
        return rg_err_sys(err, RG_EIO, "cannot list the host's interfaces");
    for (struct ifaddrs *i = all; i; i = i->ifa_next) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)i->ifa_addr;
        const struct sockaddr_in *m = (const struct sockaddr_in *)(const void *)i->ifa_netmask;
        if (!a || !m || a->sin_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        if ((a->sin_addr.s_addr & m->sin_addr.s_addr) == (addr.s_addr & m->sin_addr.s_addr) &&
            a->sin_addr.s_addr != addr.s_addr) {
            *ifindex = if_nametoindex(i->ifa_name);
            break;
        }
    }
    freeifaddrs(all);
    if (!*ifindex)
        return rg_err_set(err, RG_ENOENT, "no interface of this host is on the subnet of %s",
                          inet_ntoa(addr));
    return 0;
}

int
rg_net_neigh_announce(const char *ip, const char *mac, struct rg_err *err)
{
    struct {
        struct nlmsghdr nh;
        struct ndmsg nd;
        char attrs[64];
    } req;
    struct {
        struct nlmsghdr nh;
        struct nlmsgerr e;
    } ack;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    struct in_addr addr;
    struct rtattr *rta;
    unsigned char lladdr[6];
    unsigned ifindex;
    ssize_t got;
    int fd = -1, rc;

    if (inet_pton(AF_INET, ip, &addr) != 1 || parse_mac(lladdr, mac) < 0)
        return rg_err_set(err, RG_EINVAL, "not an IPv4 address and MAC: '%s' '%s'", ip, mac);
    if ((rc = interface_for(&ifindex, addr, err)) < 0)
        return rc;
    memset(&req, 0, sizeof(req));
    req.nh.nlmsg_type = RTM_NEWNEIGH;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
    req.nh.nlmsg_seq = 1;
    req.nd.ndm_family = AF_INET;
    req.nd.ndm_ifindex = (int)ifindex;
    req.nd.ndm_state = NUD_STALE;
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.nd));
    rta = (struct rtattr *)(void *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
    rta->rta_type = NDA_DST;
    rta->rta_len = RTA_LENGTH(sizeof(addr));
    memcpy(RTA_DATA(rta), &addr, sizeof(addr));
    req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
    rta = (struct rtattr *)(void *)((char *)&req + req.nh.nlmsg_len);
    rta->rta_type = NDA_LLADDR;
    rta->rta_len = RTA_LENGTH(sizeof(lladdr));
    memcpy(RTA_DATA(rta), lladdr, sizeof(lladdr));
    req.nh.nlmsg_len += RTA_ALIGN(rta->rta_len);

    if ((fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot open a netlink socket");
        goto out;
    }
    if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
        rc = rg_err_sys(err, RG_EIO, "cannot send the neighbour entry of %s", ip);
        goto out;
    }
    got = recv(fd, &ack, sizeof(ack), 0);
    if (got < (ssize_t)sizeof(ack.nh) || ack.nh.nlmsg_type != NLMSG_ERROR) {
        rc = rg_err_set(err, RG_EIO, "no answer from the kernel to the neighbour entry of %s", ip);
        goto out;
    }
    if (ack.e.error) {
        errno = -ack.e.error;
        rc = rg_err_sys(err, RG_EIO, "the kernel refused the neighbour entry of %s", ip);
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}
