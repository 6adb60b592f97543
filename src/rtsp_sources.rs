//! Events pulled from IP cameras over RTSP: the `--rtsp ID=URL` flag of `amphi serve`,
//! the events' stored `rtsp_url`, and one puller task per such event.
//!
//! A camera's URL carries its password: it is stored in `events.json` (mode 0600) and
//! shown everywhere else with the password replaced by `***`.

use crate::events::EventRecord;
use amphi_ingest::rtsp::{redact_password, RtspSource, SourceUrl, Transport};
use amphi_ingest::{EventId, Hub};
use anyhow::{bail, Context, Result};
use clap::Args;

#[derive(Args, Debug, Clone, Default)]
pub struct RtspArgs {
    /// Pull an event from an IP camera, for this process only, as
    /// ID=rtsp://user:password@host:554/path (repeatable); the event is created if needed.
    #[arg(long = "rtsp", value_name = "ID=URL")]
    pub sources: Vec<String>,
    /// How the cameras send RTP: tcp (interleaved in the RTSP connection) or udp (LAN).
    #[arg(long, default_value_t = Transport::Tcp)]
    pub rtsp_transport: Transport,
}

/// `ID=URL` into a checked event id and the URL as given.
fn parse_cli_source(s: &str) -> Result<(EventId, String)> {
    let Some((id, url)) = s.split_once('=') else {
        bail!("--rtsp takes ID=rtsp://…, got {:?}", redact_password(s));
    };
    let event = EventId::parse(id).with_context(|| format!("--rtsp: event id {id:?}"))?;
    SourceUrl::parse(url).with_context(|| format!("--rtsp {id}: URL {}", redact_password(url)))?;
    Ok((event, url.to_owned()))
}

/// Applies the `--rtsp` flags to the event list: sets the URL of an existing event,
/// or adds a process-only event (with a generated stream key) for a new id.
pub fn add_cli_sources(args: &RtspArgs, records: &mut Vec<EventRecord>) -> Result<()> {
    for s in &args.sources {
        let (event, url) = parse_cli_source(s)?;
        match records.iter_mut().find(|r| r.id == event.as_str()) {
            Some(r) => r.rtsp_url = Some(url),
            None => {
                let mut record = EventRecord::new(&event, event.to_string());
                record.rtsp_url = Some(url);
                records.push(record);
            }
        }
    }
    Ok(())
}

/// The cameras to pull, one per event that has an RTSP URL.
pub fn sources(args: &RtspArgs, records: &[EventRecord]) -> Result<Vec<RtspSource>> {
    let mut out = Vec::new();
    for r in records {
        let Some(url) = &r.rtsp_url else { continue };
        let event = EventId::parse(&r.id).with_context(|| format!("event id {:?}", r.id))?;
        let url = SourceUrl::parse(url)
            .with_context(|| format!("event {}: RTSP URL {}", r.id, redact_password(url)))?;
        out.push(RtspSource {
            event,
            url,
            transport: args.rtsp_transport,
        });
    }
    Ok(out)
}

/// Starts one puller per camera and says so on stdout (password hidden).
pub fn spawn(args: &RtspArgs, hub: &Hub, records: &[EventRecord]) -> Result<()> {
    for source in sources(args, records)? {
        println!(
            "AMPHI_RTSP event={} url={} transport={}",
            source.event, source.url, source.transport
        );
        println!(
            "  Event {} pulls from the RTSP camera {}",
            source.event, source.url
        );
        tokio::spawn(amphi_ingest::rtsp::run(hub.clone(), source));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> EventRecord {
        let mut v = Vec::new();
        add_cli_sources(
            &RtspArgs {
                sources: vec![format!("{id}=rtsp://cam/x")],
                ..Default::default()
            },
            &mut v,
        )
        .expect("valid");
        let mut r = v.remove(0);
        r.rtsp_url = None;
        r
    }

    #[test]
    fn cli_sources_create_or_update_events() {
        let mut records = vec![record("hall-a")];
        let args = RtspArgs {
            sources: vec![
                "hall-a=rtsp://admin:hunter2@10.0.0.5/stream1".into(),
                "hall-b=rtsp://10.0.0.6:8554/live".into(),
            ],
            rtsp_transport: Transport::Udp,
        };
        add_cli_sources(&args, &mut records).expect("valid");
        assert_eq!(records.len(), 2);
        assert_eq!(
            records[0].rtsp_url.as_deref(),
            Some("rtsp://admin:hunter2@10.0.0.5/stream1")
        );
        assert_eq!(records[1].id, "hall-b");
        let s = sources(&args, &records).expect("valid");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].transport, Transport::Udp);
        assert_eq!(s[0].url.redacted(), "rtsp://admin:***@10.0.0.5/stream1");
    }

    #[test]
    fn bad_flags_are_refused_without_showing_the_password() {
        for bad in [
            "hall-a",
            "Hall A=rtsp://u:hunter2@cam/x",
            "hall-a=http://u:hunter2@cam/x",
            "hall-a=rtsp://u:hunter2@",
        ] {
            let e = add_cli_sources(
                &RtspArgs {
                    sources: vec![bad.into()],
                    ..Default::default()
                },
                &mut Vec::new(),
            )
            .expect_err(bad);
            assert!(!format!("{e:#}").contains("hunter2"), "{e:#}");
        }
    }

    #[test]
    fn stored_urls_are_validated() {
        let dir = std::env::temp_dir().join(format!("amphi-rtsp-events-{}", std::process::id()));
        let store = crate::events::EventsFileStore::new(&dir);
        store.create("hall", None, None).expect("create");
        let e = store
            .set_rtsp_url("hall", Some("rtsp://u:pw@cam/x".into()))
            .expect("set");
        assert_eq!(e.rtsp_url.as_deref(), Some("rtsp://u:pw@cam/x"));
        let err = store
            .set_rtsp_url("hall", Some("ftp://u:pw@cam/x".into()))
            .expect_err("not rtsp");
        assert!(!format!("{err:#}").contains(":pw@"), "{err:#}");
        let e = store.set_rtsp_url("hall", None).expect("clear");
        assert_eq!(e.rtsp_url, None);
        // Absent from the file when unset, so older versions still read it.
        let text = std::fs::read_to_string(dir.join(crate::events::EVENTS_FILE)).expect("read");
        assert!(!text.contains("rtsp_url"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
