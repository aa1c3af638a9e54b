"""A panel of the standby server works as one of the active server: an acknowledgement given there is run by the
active instance and said in the same words, and a note written on the active server appears in the standby's open
shift log (hmi/cluster/commands.py, hmi/cluster/notes_feed.py; docs/deployment.md, the redundant pair)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from hmi.access.context import ActionContext
from hmi.alarms.states import AlarmState
from hmi.runtime import Runtime
from hmi.store.database import Database
from hmi.store.models import Acknowledgement, AuditEntry
from tests.conftest import fresh_postgres_database
from tests.opcua_server import SmallServer, free_port
from tests.plant_fixture import INITIAL, small_plant
from tests.screens.conftest import harness_on

pytestmark = pytest.mark.postgres


@pytest.mark.req("RED-009", "RED-013")
async def test_a_standby_panel_acknowledges_through_the_active_server_and_lists_its_notes(tmp_path: Path) -> None:
    async with fresh_postgres_database() as url:
        # The active server, first on the database, reading its own OPC UA server.
        server = SmallServer(free_port(), dict(INITIAL))
        await server.start()
        # Neither has an audit key here (the harness's runtime has none): a pair shares one, or neither has it.
        active = Runtime(small_plant(server.url), Database(url), instance="hmi-a")
        await active.start()
        try:
            async with harness_on(tmp_path, small_plant, INITIAL, ready=[], db_url=url) as hmi:
                assert not hmi.rt.active
                await server.write("L1.M1.Temp", 85.0)
                # OPC UA to the active server, its alarm engine, then the feed to this one: 30 s on a loaded machine
                # (10 s ran out once while a soak bench's ten panels shared the two cores).
                await hmi.until(lambda: hmi.rt.alarms.get("L1.M1.Temp.H"), timeout=30, what="the alarm on the standby")
                await hmi.login("olga")
                await hmi.user.open("/alarms?focus=L1.M1.Temp.H")
                await hmi.user.should_see("<b>Temp</b> high", retries=50)
                hmi.user.find(marker="ack-selected").click()
                hmi.user.find(marker="ack-comment").type("seen from the standby's panel")
                hmi.user.find(marker="ack-confirm").click()
                await hmi.user.should_see("1 alarm(s) acknowledged and stored.", retries=100)
                await hmi.user.should_not_see("stands by for the active one")
                alarm = active.alarms.get("L1.M1.Temp.H")
                assert alarm is not None
                assert (alarm.state, alarm.acked_by) == (AlarmState.ACTIVE_ACK, "olga")
                async with active.db.session() as s:
                    acks = (await s.execute(sa.select(Acknowledgement))).scalars().all()
                    audit = (
                        (await s.execute(sa.select(AuditEntry).where(AuditEntry.action == "alarm.acknowledge")))
                        .scalars()
                        .all()
                    )
                assert [(a.username, a.comment) for a in acks] == [("olga", "seen from the standby's panel")]
                assert [(e.username, e.action_id) for e in audit] == [("olga", acks[0].action_id)]

                # A note written on the active server appears in the standby's open shift log without a reload.
                await hmi.user.open("/notes")
                await hmi.user.should_see(marker="note-list", retries=50)
                lead = await active.users.get("lena")
                assert lead is not None
                assert lead.id is not None
                ctx = ActionContext(lead.id, lead.username, lead.full_name, lead.role, "office")
                slot = active.shift()
                await active.notes.add(ctx, "L1", "Filler seal replaced on the night shift", slot.name, slot.date)
                await hmi.user.should_see("Filler seal replaced on the night shift", retries=100)
        finally:
            await active.stop()
            await server.stop()
