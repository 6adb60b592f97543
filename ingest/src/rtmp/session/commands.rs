//! The NetConnection and NetStream commands a publisher sends (`connect`,
//! `releaseStream`, `FCPublish`, `createStream`, `publish`, …) and the answers the
//! session writes: `_result`, `onStatus`.

use super::*;

impl Session {
    fn send_command(&mut self, csid: u32, stream_id: u32, values: &[Amf0Value]) {
        let msg = Message {
            type_id: msg_type::COMMAND_AMF0,
            stream_id,
            timestamp: 0,
            payload: amf0::encode_all(values).freeze(),
        };
        self.send(csid, msg);
    }

    pub(super) fn on_status(&mut self, stream_id: u32, level: &str, code: &str, description: &str) {
        let info = Amf0Value::object([
            ("level", Amf0Value::string(level)),
            ("code", Amf0Value::string(code)),
            ("description", Amf0Value::string(description)),
        ]);
        self.send_command(
            csid::STREAM,
            stream_id,
            &[
                Amf0Value::string("onStatus"),
                Amf0Value::Number(0.0),
                Amf0Value::Null,
                info,
            ],
        );
    }

    pub(super) fn handle_command(&mut self, msg: &Message) -> Result<(), SessionError> {
        let mut body = &msg.payload[..];
        if msg.type_id == msg_type::COMMAND_AMF3 && body.first() == Some(&0) {
            // AMF3 command messages start with a format byte; the values are AMF0.
            body = &body[1..];
        }
        let values = amf0::decode_all(body).map_err(|source| SessionError::Amf0 {
            type_id: msg.type_id,
            len: msg.payload.len(),
            source,
        })?;
        let name = values
            .first()
            .and_then(Amf0Value::as_str)
            .ok_or(SessionError::NoCommandName {
                type_id: msg.type_id,
            })?
            .to_owned();
        let txn = values.get(1).and_then(Amf0Value::as_number).unwrap_or(0.0);
        let arg = |i: usize| values.get(i);
        debug!(command = %name, txn, "command");

        if self.state == State::Start && name != "connect" {
            return Err(SessionError::BeforeConnect(name));
        }
        match name.as_str() {
            // A second connect would silently drop a publish (no `Unpublish`).
            "connect" if self.state != State::Start => return Err(SessionError::ConnectTwice),
            "connect" => {
                let app = arg(2)
                    .and_then(|o| o.get("app"))
                    .and_then(Amf0Value::as_str)
                    .unwrap_or("");
                let app_name = app.split('?').next().unwrap_or("").trim_end_matches('/');
                if app_name != APP {
                    let info = Amf0Value::object([
                        ("level", Amf0Value::string("error")),
                        ("code", Amf0Value::string("NetConnection.Connect.Rejected")),
                        ("description", Amf0Value::string("Unknown application.")),
                    ]);
                    let reply = [
                        Amf0Value::string("_error"),
                        Amf0Value::Number(txn),
                        Amf0Value::Null,
                        info,
                    ];
                    self.send_command(csid::COMMAND, 0, &reply);
                    return Err(SessionError::WrongApp(shown_app(app)));
                }
                self.send(csid::CONTROL, Message::window_ack_size(WINDOW_ACK_SIZE));
                self.send(
                    csid::CONTROL,
                    Message::set_peer_bandwidth(WINDOW_ACK_SIZE, message::BANDWIDTH_DYNAMIC),
                );
                self.send(csid::CONTROL, Message::set_chunk_size(OUT_CHUNK_SIZE));
                self.encoder.set_chunk_size(OUT_CHUNK_SIZE);
                let mut props = Amf0Value::object([
                    ("fmsVer", Amf0Value::string("FMS/3,0,1,123")),
                    ("capabilities", Amf0Value::Number(31.0)),
                ]);
                // Enhanced RTMP: a publisher that lists the codecs it can send learns
                // which of them Amphi ingests.
                if let Some(offered) = arg(2).and_then(|o| o.get("fourCcList")) {
                    let accepted = accepted_fourccs(offered);
                    debug!(offered = ?offered, accepted = ?accepted, "enhanced RTMP codecs");
                    if let Amf0Value::Object(fields) = &mut props {
                        let list = accepted.iter().map(|f| Amf0Value::string(f)).collect();
                        fields.push(("fourCcList".into(), Amf0Value::StrictArray(list)));
                    }
                }
                let info = Amf0Value::object([
                    ("level", Amf0Value::string("status")),
                    ("code", Amf0Value::string("NetConnection.Connect.Success")),
                    ("description", Amf0Value::string("Connection succeeded.")),
                    ("objectEncoding", Amf0Value::Number(0.0)),
                ]);
                let reply = [
                    Amf0Value::string("_result"),
                    Amf0Value::Number(txn),
                    props,
                    info,
                ];
                self.send_command(csid::COMMAND, 0, &reply);
                self.state = State::Connected;
            }
            "releaseStream" | "FCPublish" => self.result(txn, Amf0Value::Undefined),
            "createStream" => self.result(txn, Amf0Value::Number(f64::from(STREAM_ID))),
            "publish" => {
                if self.is_publishing() {
                    return Err(SessionError::AlreadyPublishing);
                }
                let stream_id = msg.stream_id;
                let key = arg(3).and_then(Amf0Value::as_str).unwrap_or("");
                let key = key.split('?').next().unwrap_or("");
                if key.is_empty() {
                    self.on_status(
                        stream_id,
                        "error",
                        "NetStream.Publish.BadName",
                        "No stream key.",
                    );
                    return Err(SessionError::NoStreamKey);
                }
                debug!(key = %Redacted::new(key), stream_id, "publish requested");
                self.events.push_back(Event::Publish {
                    key: key.to_owned(),
                });
                self.state = State::PublishPending { stream_id };
            }
            "FCUnpublish" | "deleteStream" | "closeStream" => {
                if self.is_publishing() {
                    self.state = State::Connected;
                    self.media = Media::default();
                    self.events.push_back(Event::Unpublish);
                }
                if name == "FCUnpublish" {
                    self.result(txn, Amf0Value::Undefined);
                }
            }
            "play" | "play2" => return Err(SessionError::PlayUnsupported(name)),
            _ => debug!(command = %name, "command ignored"),
        }
        Ok(())
    }

    /// Replies `_result` to a command with a non-zero transaction id.
    fn result(&mut self, txn: f64, value: Amf0Value) {
        if txn != 0.0 {
            let reply = [
                Amf0Value::string("_result"),
                Amf0Value::Number(txn),
                Amf0Value::Null,
                value,
            ];
            self.send_command(csid::COMMAND, 0, &reply);
        }
    }
}

/// An application name fit for logs: a misconfigured publisher may have put its
/// stream key after the first `/` (`rtmp://host/live/KEY` as the server URL).
fn shown_app(app: &str) -> String {
    let app: String = app.chars().take(256).collect();
    match app.split_once('/') {
        Some((first, rest)) if !rest.is_empty() => format!("{first}/{}", Redacted::new(rest)),
        _ => app,
    }
}

/// The FourCCs of a connect's `fourCcList` that Amphi ingests (all of them for `*`).
fn accepted_fourccs(offered: &Amf0Value) -> Vec<String> {
    let Amf0Value::StrictArray(list) = offered else {
        return Vec::new();
    };
    let offered: Vec<&str> = list.iter().filter_map(Amf0Value::as_str).collect();
    super::super::ertmp::FourCc::SUPPORTED
        .iter()
        .map(ToString::to_string)
        .filter(|f| offered.iter().any(|o| *o == "*" || o == f))
        .collect()
}
