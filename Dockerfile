# fraudwatch: replay captures and CDRs, or run as a collector (HEP / live SIP).
#   docker build -t fraudwatch .
#   docker run --rm -p 9108:9108 fraudwatch demo
#   docker run --rm -v "$PWD:/data" fraudwatch replay /data/calls.csv --alerts /data/alerts.jsonl
FROM python:3.11-slim-bookworm

# tshark: deep inspection (pyshark) of captures; libpcap: live capture with scapy.
RUN apt-get update \
 && echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tshark libpcap0.8 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/fraudwatch
COPY pyproject.toml README.md ./
COPY detector detector
COPY capture capture
COPY fraudwatch fraudwatch
COPY rules rules
COPY dashboards dashboards
RUN pip install --no-cache-dir . \
 && useradd --system --create-home --home-dir /var/lib/fraudwatch fraudwatch
# The pcap index's and the hash index's kernels are compiled by numba at first use
# (~4 s); compile them into a cache the service user owns now, so a container starts warm
# (site-packages is read-only to that user, where numba would otherwise put its cache).
ENV NUMBA_CACHE_DIR=/var/lib/fraudwatch/.numba-cache
USER fraudwatch
RUN python -c "from capture import pcapindex; from detector import hashindex; pcapindex.warm_up(); hashindex.warm_up()"
WORKDIR /var/lib/fraudwatch
# 9108: /metrics; 9060: HEP collector (udp and tcp)
EXPOSE 9108 9060/udp 9060/tcp
ENTRYPOINT ["fraudwatch"]
CMD ["demo"]
