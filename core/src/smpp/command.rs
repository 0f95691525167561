//! `command_id` values of SMPP 3.4 (§5.1.2) and their stable names.

use std::fmt;

/// Bit 31 of a `command_id`: set on every response (SMPP 3.4 §5.1.2).
pub const RESPONSE_BIT: u32 = 0x8000_0000;

/// An SMPP `command_id`, known or not (SMPP 3.4 §5.1.2).
///
/// Every value of the wire fits: an unknown id is still a `CommandId`, and
/// [`CommandId::is_known`] tells whether SMPP 3.4 defines it. [`CommandId::name`] is the
/// specification's name, stable for per-command statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(pub u32);

impl CommandId {
    /// `generic_nack` (§4.3.1).
    pub const GENERIC_NACK: CommandId = CommandId(0x8000_0000);
    /// `bind_receiver` (§4.1.3).
    pub const BIND_RECEIVER: CommandId = CommandId(0x0000_0001);
    /// `bind_receiver_resp` (§4.1.4).
    pub const BIND_RECEIVER_RESP: CommandId = CommandId(0x8000_0001);
    /// `bind_transmitter` (§4.1.1).
    pub const BIND_TRANSMITTER: CommandId = CommandId(0x0000_0002);
    /// `bind_transmitter_resp` (§4.1.2).
    pub const BIND_TRANSMITTER_RESP: CommandId = CommandId(0x8000_0002);
    /// `query_sm` (§4.8.1).
    pub const QUERY_SM: CommandId = CommandId(0x0000_0003);
    /// `query_sm_resp` (§4.8.2).
    pub const QUERY_SM_RESP: CommandId = CommandId(0x8000_0003);
    /// `submit_sm` (§4.4.1).
    pub const SUBMIT_SM: CommandId = CommandId(0x0000_0004);
    /// `submit_sm_resp` (§4.4.2).
    pub const SUBMIT_SM_RESP: CommandId = CommandId(0x8000_0004);
    /// `deliver_sm` (§4.6.1).
    pub const DELIVER_SM: CommandId = CommandId(0x0000_0005);
    /// `deliver_sm_resp` (§4.6.2).
    pub const DELIVER_SM_RESP: CommandId = CommandId(0x8000_0005);
    /// `unbind` (§4.2.1).
    pub const UNBIND: CommandId = CommandId(0x0000_0006);
    /// `unbind_resp` (§4.2.2).
    pub const UNBIND_RESP: CommandId = CommandId(0x8000_0006);
    /// `replace_sm` (§4.10.1).
    pub const REPLACE_SM: CommandId = CommandId(0x0000_0007);
    /// `replace_sm_resp` (§4.10.2).
    pub const REPLACE_SM_RESP: CommandId = CommandId(0x8000_0007);
    /// `cancel_sm` (§4.9.1).
    pub const CANCEL_SM: CommandId = CommandId(0x0000_0008);
    /// `cancel_sm_resp` (§4.9.2).
    pub const CANCEL_SM_RESP: CommandId = CommandId(0x8000_0008);
    /// `bind_transceiver` (§4.1.5).
    pub const BIND_TRANSCEIVER: CommandId = CommandId(0x0000_0009);
    /// `bind_transceiver_resp` (§4.1.6).
    pub const BIND_TRANSCEIVER_RESP: CommandId = CommandId(0x8000_0009);
    /// `outbind` (§4.1.7); it has no response.
    pub const OUTBIND: CommandId = CommandId(0x0000_000B);
    /// `enquire_link` (§4.11.1).
    pub const ENQUIRE_LINK: CommandId = CommandId(0x0000_0015);
    /// `enquire_link_resp` (§4.11.2).
    pub const ENQUIRE_LINK_RESP: CommandId = CommandId(0x8000_0015);
    /// `submit_multi` (§4.5.1).
    pub const SUBMIT_MULTI: CommandId = CommandId(0x0000_0021);
    /// `submit_multi_resp` (§4.5.2).
    pub const SUBMIT_MULTI_RESP: CommandId = CommandId(0x8000_0021);
    /// `alert_notification` (§4.12.1); it has no response.
    pub const ALERT_NOTIFICATION: CommandId = CommandId(0x0000_0102);
    /// `data_sm` (§4.7.1).
    pub const DATA_SM: CommandId = CommandId(0x0000_0103);
    /// `data_sm_resp` (§4.7.2).
    pub const DATA_SM_RESP: CommandId = CommandId(0x8000_0103);

    /// Every `command_id` SMPP 3.4 defines, requests and responses.
    pub const ALL: [CommandId; 27] = [
        CommandId::GENERIC_NACK,
        CommandId::BIND_RECEIVER,
        CommandId::BIND_RECEIVER_RESP,
        CommandId::BIND_TRANSMITTER,
        CommandId::BIND_TRANSMITTER_RESP,
        CommandId::QUERY_SM,
        CommandId::QUERY_SM_RESP,
        CommandId::SUBMIT_SM,
        CommandId::SUBMIT_SM_RESP,
        CommandId::DELIVER_SM,
        CommandId::DELIVER_SM_RESP,
        CommandId::UNBIND,
        CommandId::UNBIND_RESP,
        CommandId::REPLACE_SM,
        CommandId::REPLACE_SM_RESP,
        CommandId::CANCEL_SM,
        CommandId::CANCEL_SM_RESP,
        CommandId::BIND_TRANSCEIVER,
        CommandId::BIND_TRANSCEIVER_RESP,
        CommandId::OUTBIND,
        CommandId::ENQUIRE_LINK,
        CommandId::ENQUIRE_LINK_RESP,
        CommandId::SUBMIT_MULTI,
        CommandId::SUBMIT_MULTI_RESP,
        CommandId::ALERT_NOTIFICATION,
        CommandId::DATA_SM,
        CommandId::DATA_SM_RESP,
    ];

    /// The specification's name (`"submit_sm"`, `"bind_transceiver_resp"`, …), or
    /// `"unknown"` for an id SMPP 3.4 does not define. Stable: statistics are keyed by it.
    pub fn name(self) -> &'static str {
        match self {
            CommandId::GENERIC_NACK => "generic_nack",
            CommandId::BIND_RECEIVER => "bind_receiver",
            CommandId::BIND_RECEIVER_RESP => "bind_receiver_resp",
            CommandId::BIND_TRANSMITTER => "bind_transmitter",
            CommandId::BIND_TRANSMITTER_RESP => "bind_transmitter_resp",
            CommandId::QUERY_SM => "query_sm",
            CommandId::QUERY_SM_RESP => "query_sm_resp",
            CommandId::SUBMIT_SM => "submit_sm",
            CommandId::SUBMIT_SM_RESP => "submit_sm_resp",
            CommandId::DELIVER_SM => "deliver_sm",
            CommandId::DELIVER_SM_RESP => "deliver_sm_resp",
            CommandId::UNBIND => "unbind",
            CommandId::UNBIND_RESP => "unbind_resp",
            CommandId::REPLACE_SM => "replace_sm",
            CommandId::REPLACE_SM_RESP => "replace_sm_resp",
            CommandId::CANCEL_SM => "cancel_sm",
            CommandId::CANCEL_SM_RESP => "cancel_sm_resp",
            CommandId::BIND_TRANSCEIVER => "bind_transceiver",
            CommandId::BIND_TRANSCEIVER_RESP => "bind_transceiver_resp",
            CommandId::OUTBIND => "outbind",
            CommandId::ENQUIRE_LINK => "enquire_link",
            CommandId::ENQUIRE_LINK_RESP => "enquire_link_resp",
            CommandId::SUBMIT_MULTI => "submit_multi",
            CommandId::SUBMIT_MULTI_RESP => "submit_multi_resp",
            CommandId::ALERT_NOTIFICATION => "alert_notification",
            CommandId::DATA_SM => "data_sm",
            CommandId::DATA_SM_RESP => "data_sm_resp",
            _ => "unknown",
        }
    }

    /// True when SMPP 3.4 defines this id.
    pub fn is_known(self) -> bool {
        self.name() != "unknown"
    }

    /// True for a response id (bit 31 set, `generic_nack` included).
    pub fn is_response(self) -> bool {
        self.0 & RESPONSE_BIT != 0
    }

    /// True for a known request that the receiver answers with a response PDU: every request
    /// but `outbind` and `alert_notification`, which have none (§4.1.7, §4.12).
    pub fn expects_response(self) -> bool {
        self.is_known()
            && !self.is_response()
            && self != CommandId::OUTBIND
            && self != CommandId::ALERT_NOTIFICATION
    }

    /// The id of the response to this request: `command_id | 0x80000000` (§5.1.2). Only
    /// meaningful when [`expects_response`](Self::expects_response).
    pub fn response(self) -> CommandId {
        CommandId(self.0 | RESPONSE_BIT)
    }

    /// True for `bind_transmitter`, `bind_receiver` and `bind_transceiver`.
    pub fn is_bind(self) -> bool {
        matches!(
            self,
            CommandId::BIND_TRANSMITTER | CommandId::BIND_RECEIVER | CommandId::BIND_TRANSCEIVER
        )
    }

    /// True for the three bind responses.
    pub fn is_bind_resp(self) -> bool {
        matches!(
            self,
            CommandId::BIND_TRANSMITTER_RESP
                | CommandId::BIND_RECEIVER_RESP
                | CommandId::BIND_TRANSCEIVER_RESP
        )
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_known() {
            f.write_str(self.name())
        } else {
            write!(f, "unknown command_id 0x{:08X}", self.0)
        }
    }
}

impl From<u32> for CommandId {
    fn from(id: u32) -> Self {
        CommandId(id)
    }
}

impl From<CommandId> for u32 {
    fn from(id: CommandId) -> Self {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_known() {
        let mut names: Vec<&str> = CommandId::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 27);
        assert!(!names.contains(&"unknown"));
    }

    #[test]
    fn responses_and_requests() {
        assert_eq!(CommandId::SUBMIT_SM.response(), CommandId::SUBMIT_SM_RESP);
        assert_eq!(CommandId::DATA_SM.response(), CommandId::DATA_SM_RESP);
        assert!(CommandId::GENERIC_NACK.is_response());
        assert!(!CommandId::GENERIC_NACK.expects_response());
        assert!(!CommandId::OUTBIND.expects_response());
        assert!(!CommandId::ALERT_NOTIFICATION.expects_response());
        assert!(CommandId::ENQUIRE_LINK.expects_response());
        for id in CommandId::ALL {
            if id.expects_response() {
                assert!(id.response().is_known(), "{id} has no known response");
            }
        }
        // broadcast_sm of SMPP 5.0 is unknown to 3.4.
        assert!(!CommandId(0x0000_0111).is_known());
        assert_eq!(CommandId(0x0000_0111).name(), "unknown");
        assert_eq!(
            CommandId(0x0000_0111).to_string(),
            "unknown command_id 0x00000111"
        );
        assert_eq!(CommandId::BIND_TRANSCEIVER.to_string(), "bind_transceiver");
    }
}
